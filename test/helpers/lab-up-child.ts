// `lab up` in a process of its own, for test/lab/up-sigint.ts (which bundles this file with esbuild
// and interrupts it). Usage: node lab-up-child.mjs NAME LIBEXEC_DIR REPO (deploy/ and bin/run.js are
// the repository's: this file runs bundled elsewhere)
import {join} from 'node:path'

import {labUp} from '../../src/lab/up.js'
import {installSignalCleanup} from '../../src/process/cleanup.js'

installSignalCleanup()
const [name, dir, repo] = process.argv.slice(2) as [string, string, string]
// On SIGINT the cleanup handler tears the lab down and exits 130; the error labUp throws meanwhile
// must not end the process before that.
await labUp({
  name,
  heldBy: process.pid,
  nodes: 2,
  podsPerNode: 3,
  mode: 'vxlan',
  timeoutSeconds: 600,
  libexec: {
    apiserver: join(dir, 'apiserver-main.mjs'),
    supervisor: join(dir, 'supervisor-main.mjs'),
    forwarder: join(dir, 'forwarder-main.mjs'),
    pluginDir: join(dir, 'plugins'),
    cnidbg: join(repo, 'bin', 'run.js'),
    deployDir: join(repo, 'deploy'),
  },
}).then(
  () => process.stdout.write('lab is up\n'),
  (error: unknown) => {
    process.stderr.write(`lab up: ${(error as Error).message}\n`)
    process.exitCode = 1
  },
)
