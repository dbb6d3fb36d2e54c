// The module hooks scripts/test-loader.mjs registers (they run in Node's loader thread).
import {createHash, randomBytes} from 'node:crypto'
import {access, mkdir, readFile, rename, writeFile} from 'node:fs/promises'
import {createRequire} from 'node:module'
import {dirname, join, relative} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

// esbuild itself is imported only to transpile or bundle what the cache does not hold yet: importing it
// costs a test process about 40 ms of CPU, and nearly every file it loads is in the cache.
const {version} = createRequire(import.meta.url)('esbuild/package.json')

/** Where transpiled sources are kept (see load). */
const CACHE = fileURLToPath(new URL('../node_modules/.cache/cnidbg-test-loader/', import.meta.url))

// No .cts: the package is ESM, and nothing in it is CommonJS TypeScript.
const TS = /\.m?tsx?$/

/**
 * A relative or file: import of `x.js` (or .mjs, .jsx) that does not exist may mean `x.ts` (or .tsx,
 * .mts), whoever imports it: t.mockImport imports a test's module by its URL, with a query.
 */
const TS_TWINS = {'.js': ['.ts', '.tsx'], '.mjs': ['.mts'], '.jsx': ['.tsx']}

/**
 * tap's process tracker, which tap's runner preloads into every test process (--import, after this
 * loader: package.json's tap test-env puts this one in NODE_OPTIONS, which Node reads first). It
 * records each process and every file it loads for coverage, which is off (package.json), and for
 * `tap --changed`, which the suite does not use; loading it cost each test process about 85 ms of CPU,
 * more than the rest of what a small test file costs. It loads as an empty module instead.
 * test/scripts/test-loader.ts fails should it load again.
 */
const TRACKER = '/node_modules/@tapjs/processinfo/dist/esm/import.mjs'
const NOTHING = 'data:text/javascript,'

export async function resolve(specifier, context, next) {
  if (specifier === 'tap') {
    // Only ever a saving: tap as installed when the bundle can't be made or kept (test/scripts/test-loader.ts
    // fails then, so it does not go unseen).
    const url = await (tapBundle ??= makeTapBundle(context, next).catch(() => undefined))
    if (url) return {url, format: 'module', shortCircuit: true}
  }
  try {
    const resolved = await next(specifier, context)
    if (resolved.url.endsWith(TRACKER)) return {url: NOTHING, format: 'module', shortCircuit: true}
    return resolved
  } catch (error) {
    const m = /^((?:\.|\/|file:).*?)(\.m?js|\.jsx)([?#].*)?$/s.exec(specifier)
    if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !m) throw error
    const [, stem, ext, suffix = ''] = m
    for (const twin of TS_TWINS[ext]) {
      try {
        return await next(stem + twin + suffix, context)
      } catch {
        // Try the next twin; the original error is the one to report.
      }
    }
    throw error
  }
}

/**
 * What a test's `import t from 'tap'` loads: tap and its plugins as one esbuild bundle, kept in the
 * cache like the transpiled sources. tap is about 135 modules, and every one was two trips through
 * these hooks in each of the 200-odd test processes: 0.1–0.15 s of CPU a file that the bundle saves.
 * Left out of it: @tapjs/processinfo, which tap's spawn code imports: one copy, as installed (its preload
 * is the empty module TRACKER names).
 * tcompare (tap's comparisons and diffs) is in it, from its CommonJS build: its ES build loads a
 * dependency of its own with createRequire(import.meta.url), which in a bundle would look for it beside
 * the bundle. Loaded as installed, its 38 modules (React among them, to format elements) took about
 * 20 ms of CPU in every test process.
 * Frames inside the bundle are hidden from failure reports as tap's own are (@tapjs/stack hides
 * node_modules/@tapjs/…), so an assertion still points at the test's line. Kept per esbuild version,
 * lockfile and tap's built plugin set (`tap build`, run by scripts/setup.sh).
 * The bundle is CommonJS (`<key>.cjs`) behind a small ES module (`<key>.mjs`, tapFace below) that
 * compiles it with V8's code cache, as bin/run.js does run.cjs: Node 20 caches no compiled ES module,
 * and compiling and linking tap as one was about 60 ms of CPU in every test process, a third of what a
 * small test file costs. import.meta.url in tap's code is the bundle's URL, as it was in the ES bundle.
 */
let tapBundle
async function makeTapBundle(context, next) {
  const entry = fileURLToPath((await next('tap', context)).url)
  // What `tap build` writes: the Test class with the plugins package.json names.
  const plugins = new URL(
    (await next('@tapjs/test/test-built', {...context, parentURL: pathToFileURL(entry).href})).url,
  )
  const hidden = relative(join(fileURLToPath(new URL('..', import.meta.url)), 'node_modules'), CACHE)
  const contents = [
    `import {addIgnoredPackage} from '@tapjs/stack'`,
    `addIgnoredPackage(${JSON.stringify(hidden)})`,
    `export * from 'tap'`,
    `export {default} from 'tap'`,
  ].join('\n')
  const options = {
    stdin: {contents, resolveDir: dirname(entry), sourcefile: 'tap-bundle.mjs'},
    bundle: true,
    platform: 'node',
    target: 'node20',
    external: ['@tapjs/processinfo'],
    plugins: [TCOMPARE_CJS],
    logLevel: 'error',
    write: false,
  }
  const key = createHash('sha256')
    .update(JSON.stringify([version, 'tap-bundle', entry, options, TCOMPARE_CJS.setup.toString(), tapFace.toString()]))
    .update('\0')
    .update(await readFile(LOCKFILE))
    .update('\0')
    .update(await readFile(plugins))
    .digest('hex')
  const file = join(CACHE, `${key}.mjs`)
  const made = () =>
    access(file).then(
      () => true,
      () => false,
    )
  if (await made()) return pathToFileURL(file).href
  await cachedOr(key, async () => {
    const {build} = await import('esbuild')
    const [cjs, esm] = await Promise.all([
      build({
        ...options,
        format: 'cjs',
        define: {'import.meta.url': '__tapBundleUrl'},
        banner: {js: "var __tapBundleUrl = require('node:url').pathToFileURL(__filename).href;"},
      }),
      // The names tap exports, which the face must list (an ES module's exports are static).
      build({...options, format: 'esm', metafile: true}),
    ])
    const bundle = join(CACHE, `${key}.cjs`)
    await keep(bundle, cjs.outputFiles[0].text)
    return tapFace(bundle, Object.values(esm.metafile.outputs)[0].exports)
  })
  // A cache that can't be written: tap as it is installed.
  return (await made()) ? pathToFileURL(file).href : undefined
}

/** tcompare, wherever tap imports it, as its CommonJS build (the "require" entry of its package.json). */
const TCOMPARE_CJS = {
  name: 'tcompare-cjs',
  setup(build) {
    build.onResolve({filter: /^tcompare$/}, (args) => ({
      path: createRequire(`${args.resolveDir}/`).resolve('tcompare'),
    }))
  },
}

/** client-node's one door (see kubeDoor below). */
const KUBE_DOOR = fileURLToPath(new URL('../src/kube/client.ts', import.meta.url))
const LOCKFILE = new URL('../package-lock.json', import.meta.url)

/** Formats whose source this hook can hand over as read from disk (what Node's own load does). */
const PLAIN = new Set(['module', 'json'])

export async function load(url, context, next) {
  if (url.startsWith('file:') && url.includes('/node_modules/') && !/[?#]/.test(url)) {
    // A dependency, untouched by any hook: loaded here, so no hook registered before this one runs for
    // each of the many files a dependency such as client-node is made of. While tap's process tracker
    // (which records and measures every file it sees, for coverage that is off) registered its hooks
    // first, this halved the CPU of importing client-node in a test process (2.5 s before). The tracker
    // no longer loads (TRACKER above) and these hooks now come first; this stays for any preload that
    // registers hooks of its own before them.
    if (PLAIN.has(context.format))
      return {format: context.format, source: await readFile(new URL(url)), shortCircuit: true}
    if (context.format === 'commonjs') return {format: 'commonjs', source: null, shortCircuit: true}
  }
  if (!url.startsWith('file:') || !TS.test(new URL(url).pathname)) return next(url, context)
  const file = fileURLToPath(url)
  const source = await readFile(file, 'utf8')
  if (file === KUBE_DOOR) return {format: 'module', source: await kubeDoor(source), shortCircuit: true}
  const options = {
    format: 'esm',
    loader: file.endsWith('x') ? 'tsx' : 'ts',
    jsx: 'automatic',
    sourcefile: file,
    // Inline, so stack traces (--enable-source-maps, which tap sets) and tap's failure reports point
    // at the TypeScript lines.
    sourcemap: 'inline',
    target: 'node20',
    // The compiler options that change emit (tsconfig.json): ES2022 class fields, react-jsx.
    tsconfigRaw: {compilerOptions: {jsx: 'react-jsx', target: 'ES2022', useDefineForClassFields: true}},
  }
  // Every test process imports much the same sources: each is transpiled once per content, path,
  // options and esbuild version.
  const key = createHash('sha256')
    .update(JSON.stringify([version, options]))
    .update('\0')
    .update(source)
    .digest('hex')
  const transpile = async () => (await (await import('esbuild')).transform(source, options)).code
  return {
    format: 'module',
    source: await cachedOr(key, transpile),
    shortCircuit: true,
  }
}

/**
 * src/kube/client.ts, as the built CLI has it: one bundle of the client-node names it exports
 * (scripts/bundle-kube.mjs). client-node's own index is about 800 modules, each a trip through these
 * hooks: over a second of CPU in every test process that imports it, about 50 of them, where the
 * bundle takes a fifth of that. Kept per door source, lockfile (client-node's version) and esbuild.
 */
async function kubeDoor(source) {
  const key = createHash('sha256')
    .update(JSON.stringify([version, 'kube-door']))
    .update('\0')
    .update(source)
    .update('\0')
    .update(await readFile(LOCKFILE))
    .digest('hex')
  return cachedOr(key, async () => {
    const [{build}, {KUBE_BUNDLE_OPTIONS}] = await Promise.all([import('esbuild'), import('./bundle-kube.mjs')])
    const {outputFiles} = await build({
      ...KUBE_BUNDLE_OPTIONS,
      stdin: {contents: source, loader: 'ts', resolveDir: dirname(KUBE_DOOR), sourcefile: KUBE_DOOR},
      write: false,
    })
    return outputFiles[0].text
  })
}

/**
 * The code kept under `key` in node_modules/.cache (gone with node_modules, as with `npm ci`), or
 * `make()`'s, then kept. Written to a temporary name and renamed, so a process reading it never sees
 * half a file.
 */
async function cachedOr(key, make) {
  const cached = join(CACHE, `${key}.mjs`)
  try {
    return await readFile(cached, 'utf8')
  } catch {
    // Not made yet.
  }
  const code = await make()
  await keep(cached, code)
  return code
}

/** Writes `code` to `file` in the cache under a temporary name, then renames it. */
async function keep(file, code) {
  try {
    await mkdir(CACHE, {recursive: true})
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`
    await writeFile(tmp, code)
    await rename(tmp, file)
  } catch {
    // A cache that can't be written only costs the next process the work.
  }
}

/**
 * The ES module a test imports as tap: it compiles the CommonJS bundle with V8's code cache
 * (`<bundle>.cache`) and exports its names. A process that found no cache, or one V8 rejected (another
 * Node), writes one as it exits, when it holds every function the test compiled.
 */
function tapFace(bundle, names) {
  return `// tap, from the CommonJS bundle beside this file (scripts/test-loader-hooks.mjs made both).
import {readFileSync, renameSync, writeFileSync} from 'node:fs'
import Module from 'node:module'
import {dirname} from 'node:path'
import vm from 'node:vm'

const file = ${JSON.stringify(bundle)}
const cacheFile = file + '.cache'
let cachedData
try {
  cachedData = readFileSync(cacheFile)
} catch {
  // None yet: compiled without, and written below.
}
const wrapper = '(function (exports, require, module, __filename, __dirname) {' + readFileSync(file, 'utf8') + '\\n})'
const script = new vm.Script(wrapper, {filename: file, cachedData})
const mod = new Module(file)
mod.filename = file
mod.paths = Module._nodeModulePaths(dirname(file))
script.runInThisContext()(mod.exports, Module.createRequire(file), mod, file, dirname(file))
mod.loaded = true
if (cachedData === undefined || script.cachedDataRejected) {
  process.once('exit', () => {
    try {
      const tmp = cacheFile + '.' + process.pid
      writeFileSync(tmp, script.createCachedData())
      renameSync(tmp, cacheFile)
    } catch {
      // The next process compiles without one, and tries again.
    }
  })
}
const tap = mod.exports
export default tap.default
export const {${names.filter((n) => n !== 'default').join(', ')}} = tap
`
}
