// scripts/require-node.sh, which scripts/setup.sh runs before `npm ci`: Node.js 20 or later with npm,
// installed from apt when apt offers a nodejs that new, else a message naming what to install and exit
// 3. Run with stubs of node, npm, apt-get and apt-cache (and the real dpkg) as its whole PATH, so
// nothing is installed; the stubbed apt-get logs what it was asked and "installs" stub programs.
import {chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import t, {type Test} from 'tap'

import {run} from '../../src/process/exec.js'
import {ROOT} from '../helpers/capture.js'

const script = join(ROOT, 'scripts', 'require-node.sh')

const tool = (version: string) => `#!/bin/sh\n[ "$1" = -p ] && echo ${version}\nexit 0\n`

interface Machine {
  /** What `node -p process.versions.node` prints; none: no node on PATH. */
  node?: string
  npm: boolean
  /** apt's candidate for nodejs ("(none)" when it has none). */
  candidate: string
  /** What `apt-get install nodejs` brings: a node of this version, and npm with it or not. */
  installs?: {node: string; npm: boolean}
}

async function runOn(t: Test, m: Machine) {
  const dir = mkdtempSync('/tmp/cnidbgtest-require-node-')
  t.teardown(() => rmSync(dir, {force: true, recursive: true}))
  const bin = join(dir, 'bin')
  const later = join(dir, 'later')
  const log = join(dir, 'apt.log')
  for (const d of [bin, later]) mkdirSync(d)
  const write = (file: string, text: string) => {
    writeFileSync(file, text)
    chmodSync(file, 0o755)
  }
  symlinkSync('/usr/bin/dpkg', join(bin, 'dpkg'))
  if (m.node) write(join(bin, 'node'), tool(m.node))
  if (m.npm) write(join(bin, 'npm'), tool('10.0.0'))
  if (m.installs) {
    write(join(later, 'node'), tool(m.installs.node))
    if (m.installs.npm) write(join(later, 'npm'), tool('10.0.0'))
    write(join(later, 'npm-pkg'), tool('9.2.0'))
  }
  write(
    join(bin, 'apt-cache'),
    `#!/bin/sh\nprintf 'nodejs:\\n  Installed: (none)\\n  Candidate: %s\\n' '${m.candidate}'\n`,
  )
  write(
    join(bin, 'apt-get'),
    [
      '#!/bin/sh',
      `echo "$*" >> ${log}`,
      'for a in "$@"; do',
      `  [ "$a" = nodejs ] && for f in ${later}/node ${later}/npm; do [ -e "$f" ] && /bin/cp "$f" ${bin}/; done`,
      `  [ "$a" = npm ] && /bin/cp ${later}/npm-pkg ${bin}/npm`,
      'done',
      'exit 0',
    ].join('\n') + '\n',
  )
  const r = await run('/bin/bash', [script], {env: {PATH: bin}, timeoutMs: 60_000})
  let apt: string[] = []
  try {
    apt = readFileSync(log, 'utf8').trim().split('\n')
  } catch {
    // apt-get was not run
  }
  return {...r, apt}
}

t.test('Node.js 20 with npm: nothing to do', async (t) => {
  const r = await runOn(t, {node: '20.20.2', npm: true, candidate: '18.20.4+dfsg-1~deb12u3'})
  t.equal(r.exitCode, 0, r.stderr)
  t.same(r.apt, [], 'apt-get not run')
})

t.test("Debian 12's Node.js 18 and no newer on offer: exit 3, naming what to install", async (t) => {
  const r = await runOn(t, {node: '18.20.4', npm: true, candidate: '18.20.4+dfsg-1~deb12u3'})
  t.equal(r.exitCode, 3)
  t.match(r.stderr, /needs Node\.js 20 or later with npm; this machine has node 18\.20\.4 and npm, /)
  t.match(r.stderr, /NodeSource's nodejs package/)
  t.notOk(
    r.apt.some((a) => a.includes('install')),
    'nothing installed',
  )
})

t.test('no node, and a NodeSource nodejs 20 on offer: installed, npm with it', async (t) => {
  const r = await runOn(t, {
    npm: false,
    candidate: '20.20.2-1nodesource1',
    installs: {node: '20.20.2', npm: true},
  })
  t.equal(r.exitCode, 0, r.stderr)
  t.match(r.stdout, /installing Node\.js \(Debian package nodejs 20\.20\.2-1nodesource1\)/)
  t.same(
    r.apt.filter((a) => a.includes('install')),
    ['install -y -qq --no-install-recommends nodejs'],
  )
})

t.test("a later Debian's nodejs 20 without npm: npm installed after it", async (t) => {
  const r = await runOn(t, {npm: false, candidate: '20.19.2+dfsg-1', installs: {node: '20.19.2', npm: false}})
  t.equal(r.exitCode, 0, r.stderr)
  t.same(
    r.apt.filter((a) => a.includes('install')),
    ['install -y -qq --no-install-recommends nodejs', 'install -y -qq --no-install-recommends npm'],
  )
})

t.test('setup.sh runs it before npm ci', async (t) => {
  const setup = readFileSync(join(ROOT, 'scripts', 'setup.sh'), 'utf8')
  const at = setup.indexOf('scripts/require-node.sh')
  t.ok(at > 0, 'named')
  t.ok(at < setup.search(/^\s*npm ci /m), 'before npm ci')
})
