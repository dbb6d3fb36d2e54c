// Replaces dist/kube/client.js (what tsc made of src/kube/client.ts: a re-export of a few names from
// @kubernetes/client-node) with one minified ESM bundle of those names. client-node's index loads about
// 800 modules, 0.7–0.8 s on every CLI command that talks to the API; the bundle loads in about 0.2 s.
// The tests load the same bundle in place of src/kube/client.ts (scripts/test-loader-hooks.mjs).
// Usage (after tsc): node scripts/bundle-kube.mjs [--dist DIR]
import {existsSync, statSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {build} from 'esbuild'

/** esbuild's options for the bundle, whatever the entry (the compiled door, or its source). */
export const KUBE_BUNDLE_OPTIONS = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
  // client-node and its dependencies are partly CommonJS: give the bundle a require().
  banner: {
    js: "import {createRequire as __cnidbgRequire} from 'node:module'; const require = __cnidbgRequire(import.meta.url);",
  },
}

async function main() {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
  const at = process.argv.indexOf('--dist')
  const dist = at >= 0 ? resolve(process.argv[at + 1]) : join(root, 'dist')
  const file = join(dist, 'kube', 'client.js')
  if (!existsSync(file)) {
    process.stderr.write(`bundle-kube: ${file} not found; run tsc first\n`)
    process.exit(1)
  }
  await build({...KUBE_BUNDLE_OPTIONS, entryPoints: [file], outfile: file, allowOverwrite: true})
  process.stderr.write(
    `bundled @kubernetes/client-node into dist/kube/client.js (${(statSync(file).size / 1e6).toFixed(1)} MB)\n`,
  )
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) await main()
