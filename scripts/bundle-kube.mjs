// Replaces dist/kube/client.js (what the transpiler made of src/kube/client.ts: a re-export of a few names
// from @kubernetes/client-node) with:
//   client.cjs        one minified CommonJS bundle of those names. client-node's index loads about 800
//                     modules, 0.7–0.8 s on every CLI command that talks to the API; the bundle alone
//                     loads in about 0.1 s.
//   client.cjs.cache  V8's code cache for it, made here by compiling the bundle and running what the CLI
//                     does with it first (a kubeconfig read, an API client of each kind, an informer).
//                     Compiled with it, the bundle loads in about half that: about 50 ms less on every
//                     command, lab program and agent that talks to the API.
//   client.js         the ESM door the rest of dist/ imports: it exports the bundle's names, compiled
//                     with the cache by client-loader.cjs (scripts/kube-client-loader.cjs, copied), which
//                     also made the cache here.
// The tests load the ESM bundle (KUBE_BUNDLE_OPTIONS) in place of src/kube/client.ts
// (scripts/test-loader-hooks.mjs).
// Usage (after transpile-src): node scripts/bundle-kube.mjs [--dist DIR]
import {copyFileSync, existsSync, statSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
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

const {loadClient} = createRequire(import.meta.url)('./kube-client-loader.cjs')

/** The first things a command does with the client, so that the code cache holds them compiled. */
function warmUp(k8s) {
  const kc = new k8s.KubeConfig()
  kc.loadFromString(
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]',
      'users: [{name: u, user: {token: t}}]',
      'contexts: [{name: x, context: {cluster: c, user: u}}]',
      'current-context: x',
    ].join('\n'),
  )
  for (const [name, Api] of Object.entries(k8s)) if (name.endsWith('V1Api')) kc.makeApiClient(Api)
  k8s.KubernetesObjectApi.makeApiClient(kc)
  const core = kc.makeApiClient(k8s.CoreV1Api)
  k8s.makeInformer(kc, '/api/v1/pods', () => core.listPodForAllNamespaces())
  k8s.loadAllYaml('kind: Pod\n---\nkind: Service\n')
  k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)
}

/** client.js: the client's names, from client.cjs as client-loader.cjs compiles it. */
function door(names) {
  return [
    '// client-node for cnidbg (scripts/bundle-kube.mjs): client.cjs compiled with its code cache by client-loader.cjs.',
    "import {createRequire} from 'node:module'",
    "import {fileURLToPath} from 'node:url'",
    "const {loadClient} = createRequire(import.meta.url)('./client-loader.cjs')",
    "const {exports: client} = loadClient(fileURLToPath(new URL('./client.cjs', import.meta.url)))",
    `export const {${names.join(', ')}} = client`,
    '',
  ].join('\n')
}

async function main() {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
  const at = process.argv.indexOf('--dist')
  const dist = at >= 0 ? resolve(process.argv[at + 1]) : join(root, 'dist')
  const file = join(dist, 'kube', 'client.js')
  const cjs = join(dist, 'kube', 'client.cjs')
  if (!existsSync(file)) {
    process.stderr.write(`bundle-kube: ${file} not found; run scripts/transpile-src.mjs first\n`)
    process.exit(1)
  }
  const {banner: _esmOnly, ...options} = KUBE_BUNDLE_OPTIONS
  await build({...options, format: 'cjs', entryPoints: [file], outfile: cjs})
  copyFileSync(join(root, 'scripts', 'kube-client-loader.cjs'), join(dist, 'kube', 'client-loader.cjs'))
  const {exports, script} = loadClient(cjs, {cache: false})
  const names = Object.keys(exports).sort()
  if (names.length === 0 || names.some((n) => !/^[A-Za-z_$][\w$]*$/.test(n)))
    throw new Error(`bundle-kube: unexpected exports from the bundle: ${JSON.stringify(names)}`)
  warmUp(exports)
  writeFileSync(`${cjs}.cache`, script.createCachedData())
  writeFileSync(file, door(names))
  // The door must load the bundle with the cache just made.
  const check = loadClient(cjs)
  if (check.script.cachedDataRejected) throw new Error('bundle-kube: V8 rejected the code cache it just made')
  process.stderr.write(
    `bundled @kubernetes/client-node into dist/kube/client.cjs (${(statSync(cjs).size / 1e6).toFixed(1)} MB, ` +
      `code cache ${(statSync(`${cjs}.cache`).size / 1e6).toFixed(1)} MB; ${names.length} names)\n`,
  )
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) await main()
