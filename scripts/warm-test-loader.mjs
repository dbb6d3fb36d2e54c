// Fills the test loader's cache (scripts/test-loader-hooks.mjs) in one process before the tests start:
// every TypeScript file under src/ and test/, client-node's door and the tap bundle, through the hooks'
// own load and resolve, so the keys and the code are exactly those a test process would make. On a cold
// cache (a fresh clone, CI) the first test processes otherwise start together, each starting its own
// esbuild service for much the same files and several building the same two bundles at once; that cost
// 5–9 s of CPU over the first 60 files of the suite. Here it is one esbuild service, each file once.
// Nothing depends on it: a file it did not warm is transpiled by the test process that needs it, as
// before. scripts/test.sh runs it; test/scripts/warm-test-loader.ts checks that a test process then
// finds everything it loads in the cache.
import {readdirSync} from 'node:fs'
import {join} from 'node:path'
import {performance} from 'node:perf_hooks'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {load, resolve} from './test-loader-hooks.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))

/** The .ts, .tsx and .mts files under `dir`, recursively (as scripts/transpile-src.mjs lists src/). */
const sources = (dir) =>
  readdirSync(dir, {recursive: true, withFileTypes: true})
    .filter((e) => e.isFile() && /\.m?tsx?$/.test(e.name) && !e.name.endsWith('.d.ts'))
    .map((e) => join(e.parentPath ?? e.path, e.name))

// The hooks hand a file on to Node's own loader only for what is not theirs, which nothing here asks for.
const refuse = (what) => () => {
  throw new Error(`warm-test-loader: the hooks asked Node's loader for ${what}`)
}

const files = ['src', 'test'].flatMap((d) => sources(join(root, d)))
const started = performance.now()
// tap as a test file imports it. The hooks find tap's entry and its built plugin set through `next`: here
// Node's own resolver, from this script, which reaches the same node_modules as a file under test/ (and
// test/scripts/warm-test-loader.ts checks that the bundle it makes is the one a test process asks for).
const parentURL = pathToFileURL(join(root, 'test', 'warm.ts')).href
const nextResolve = async (specifier) => ({url: import.meta.resolve(specifier)})
const tap = resolve('tap', {parentURL, conditions: ['node', 'import'], importAttributes: {}}, nextResolve)
// A few at a time: esbuild's service works on several requests at once, and each read and hash waits on
// the disk.
let next = 0
let failed = 0
await Promise.all(
  Array.from({length: 8}, async () => {
    while (next < files.length) {
      const file = files[next++]
      try {
        await load(pathToFileURL(file).href, {format: undefined, importAttributes: {}}, refuse(file))
      } catch (error) {
        // A file that does not transpile fails its own tests, with esbuild's message; here it is only named.
        failed++
        console.error(`warm-test-loader: ${file}: ${error?.message ?? error}`)
      }
    }
  }),
)
const tapUrl = (await tap)?.url
console.log(
  `warm-test-loader: ${files.length - failed} of ${files.length} sources and ${tapUrl?.includes('/.cache/') ? 'the tap bundle' : 'no tap bundle'} in the cache (${Math.round(performance.now() - started)} ms)`,
)
