/**
 * Builds the spy plugin (src/checks/spy/main.ts) into an executable like scripts/bundle-plugins.mjs
 * does (esbuild, a node shebang banner), without building the other plugins, so tests can put it on
 * CNI_PATH. `<dir>/cnidbg-spy.mjs` plus a symlink `<dir>/<name>` to it:
 * the link's name is the `type` a config uses, and .mjs makes Node load it as ESM wherever it sits.
 */
import {chmodSync, symlinkSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import {build} from 'esbuild'

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

export async function bundleSpy(dir: string, names: readonly string[] = ['cnidbg-spy']): Promise<string[]> {
  const outfile = join(dir, 'cnidbg-spy.mjs')
  await build({
    entryPoints: [join(REPO, 'src/checks/spy/main.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    // Without the Node settings a plugin's environment may carry, as scripts/bundle-plugins.mjs does.
    banner: {js: '#!/usr/bin/env -S -u NODE_OPTIONS -u NODE_EXTRA_CA_CERTS node'},
    logLevel: 'silent',
  })
  chmodSync(outfile, 0o755)
  return names.map((n) => {
    const link = join(dir, n)
    symlinkSync('cnidbg-spy.mjs', link)
    return link
  })
}
