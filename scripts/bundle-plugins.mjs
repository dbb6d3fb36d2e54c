// Bundles the reference CNI plugins into self-contained executables under dist/plugins:
//   dist/plugins/cnidbg-ref, dist/plugins/cnidbg-ipam   one minified CommonJS file each; cnidbg-ipam starts
//                                                       `#!<this node>`, cnidbg-ref with its shell front (front.ts),
//                                                       no node_modules needed at run time
//   dist/plugins/sea/{cnidbg-plugins,cnidbg-ref,cnidbg-ipam}   with CNIDBG_BUILD_SEA=1 (or --sea): one Node
//                                                       single-executable binary, the two names hard-linked to it
// Usage: node scripts/bundle-plugins.mjs [--out-dir DIR] [--sea]
import {execFileSync} from 'node:child_process'
import {chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, rmSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {build} from 'esbuild'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const ENTRIES = {
  // One file that is both the shell front and the Node bundle (front.ts); its header is added below.
  'cnidbg-ref': 'src/reference-plugin/main-ref.ts',
  'cnidbg-ipam': 'src/reference-plugin/main-ipam.ts',
  // The conformance suite's spy (delegation and chaining checks); shipped beside the plugins.
  'cnidbg-spy': 'src/checks/spy/main.ts',
}

/**
 * The spy answers exactly as a check scripted it, whatever environment the plugin under test passes it
 * (R12): Node starts it without NODE_OPTIONS, whose preloads may print on stdout (tap preloads its
 * process tracker into every Node child), and without NODE_EXTRA_CA_CERTS, a CA bundle parsed at each
 * start. Each would cost the spy more than all it does; the exec of env is cheap beside them.
 */
const BANNERS = {'cnidbg-spy': `#!/usr/bin/env -S -u NODE_OPTIONS -u NODE_EXTRA_CA_CERTS ${process.execPath}`}

/** The names the single executable answers to (main-multicall.ts dispatches on them). */
const SEA_NAMES = ['cnidbg-ref', 'cnidbg-ipam']

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
}

/** Builds dist/plugins (or outDir); returns the paths written. */
export async function bundlePlugins({outDir = join(root, 'dist/plugins'), sea = false} = {}) {
  mkdirSync(outDir, {recursive: true})
  // The files have no extension; tell Node they are CommonJS even inside this "type": "module" package.
  writeFileSync(join(outDir, 'package.json'), '{"type": "commonjs"}\n')
  const written = []
  for (const [name, entry] of Object.entries(ENTRIES)) {
    const outfile = join(outDir, name)
    // The Node that builds is the one that runs them (dist is built on the node by scripts/setup.sh, and
    // `cnidbg ref install` rewrites the line again); `/usr/bin/env node` would cost an exec per ADD.
    await build({
      ...common,
      entryPoints: [join(root, entry)],
      outfile,
      banner: {js: BANNERS[name] ?? `#!${process.execPath}`},
    })
    chmodSync(outfile, 0o755)
    written.push(outfile)
  }
  // cnidbg-ref gets the shell front (front.ts) as its header, as the bundle itself prints it.
  const ref = join(outDir, 'cnidbg-ref')
  writeFileSync(ref, execFileSync(process.execPath, [ref, '--with-front', process.execPath]))
  if (sea) written.push(...(await buildSea(join(outDir, 'sea'))))
  return written
}

/**
 * One Node single-executable application holding both plugins; it dispatches on the name it was run
 * as, and cnidbg-ref/cnidbg-ipam are hard links to it (one ~100 MB binary instead of two).
 */
async function buildSea(seaDir) {
  rmSync(seaDir, {recursive: true, force: true})
  mkdirSync(seaDir, {recursive: true})
  const script = join(seaDir, 'multicall.cjs')
  await build({...common, entryPoints: [join(root, 'src/reference-plugin/main-multicall.ts')], outfile: script})
  const blob = join(seaDir, 'sea-prep.blob')
  const config = join(seaDir, 'sea-config.json')
  writeFileSync(
    config,
    JSON.stringify({main: script, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true}),
  )
  execFileSync(process.execPath, ['--experimental-sea-config', config], {stdio: 'inherit'})
  const bin = join(seaDir, 'cnidbg-plugins')
  copyFileSync(process.execPath, bin)
  chmodSync(bin, 0o755)
  const require = createRequire(import.meta.url)
  const postject = require.resolve('postject/dist/cli.js')
  execFileSync(
    process.execPath,
    [postject, bin, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'],
    {stdio: ['ignore', 'ignore', 'inherit']},
  )
  for (const name of SEA_NAMES) linkSync(bin, join(seaDir, name))
  for (const f of [script, blob, config]) rmSync(f)
  return [bin, ...SEA_NAMES.map((n) => join(seaDir, n))]
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2)
  const at = args.indexOf('--out-dir')
  const outDir = at >= 0 ? resolve(args[at + 1]) : undefined
  const sea = args.includes('--sea') || process.env.CNIDBG_BUILD_SEA === '1'
  if (!existsSync(join(root, ENTRIES['cnidbg-ref']))) process.exit(0)
  const files = await bundlePlugins({outDir, sea})
  process.stderr.write(`bundled ${files.length} plugin file(s) into ${outDir ?? 'dist/plugins'}\n`)
}
