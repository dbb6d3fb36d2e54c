// Bundles the CLI that bin/run.js starts, with esbuild, into dist/bundle:
//   run.cjs                          oclif core in one CommonJS file: all that `--version` and `--help`
//                                    load (help reads oclif.manifest.json, never a command module).
//                                    bin/run.js compiles it with V8's code cache, run.cjs.cache, which
//                                    `--code-cache` writes by running `trace --help` once.
//   commands/<topic>/<command>.js    one ESM file per command (package.json oclif.commands) ...
//   chunks/*.js                      ... and the code commands share. They import oclif core from
//                                    run.cjs, so the runner and every command share one instance.
// Start-up was spent resolving, reading and compiling a few hundred small modules (oclif core and its
// dependencies). A command still loads only its own imports, so ink, react and client-node load only
// in the commands that use them.
// Run after scripts/transpile-src.mjs and bundle-kube (it bundles their output); then
// scripts/oclif-manifest.mjs, then this again with --code-cache (help should read the manifest while the
// cache is made).
// Usage: node scripts/bundle-cli.mjs [--dist DIR] | node scripts/bundle-cli.mjs --code-cache
import {execFileSync} from 'node:child_process'
import {existsSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join, relative, resolve, sep} from 'node:path'
import {fileURLToPath} from 'node:url'

import {build} from 'esbuild'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const at = process.argv.indexOf('--dist')
const dist = at >= 0 ? resolve(process.argv[at + 1]) : join(root, 'dist')
const outdir = join(dist, 'bundle')
const commandsDir = join(dist, 'commands')
const runFile = join(outdir, 'run.cjs')

/** V8's code cache for run.cjs, from the functions one `trace --help` compiles (see bin/run.js). */
function writeCodeCache() {
  execFileSync(process.execPath, [join(root, 'bin', 'run.js'), 'trace', '--help'], {
    env: {...process.env, CNIDBG_WRITE_CODE_CACHE: '1'},
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  process.stderr.write(`wrote dist/bundle/run.cjs.cache (${(statSync(`${runFile}.cache`).size / 1e3).toFixed(0)} kB)\n`)
}
if (process.argv.includes('--code-cache')) {
  writeCodeCache()
  process.exit(0)
}

if (!existsSync(commandsDir)) {
  process.stderr.write(`bundle-cli: ${commandsDir} not found; run tsc first\n`)
  process.exit(1)
}
rmSync(outdir, {recursive: true, force: true})

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  legalComments: 'none',
  logLevel: 'warning',
  // dist/kube/client.js is minified already; esbuild said what it had to about it in bundle-kube.
  logOverride: {'equals-negative-zero': 'silent'},
  metafile: true,
  // typescript: oclif core reads a tsconfig with it in development only; react-devtools-core: ink loads
  // it only under DEV=true. Neither is installed for users.
  external: ['typescript', 'react-devtools-core'],
}

// --- run.cjs: oclif core, whose exports load on first use: `--version` and `--help` need `run` and
// what it imports, and the commands (which import oclif core through oclif.js) everything else.
// bin/run.js compiles run.cjs with vm.Script, and Node 20 gives code compiled that way no import() (the
// command modules are ESM): oclif's import() calls go through the host's import, passed in by bin/run.js.
const oclifNames = Object.keys(createRequire(join(root, 'package.json'))('@oclif/core'))
// What bin/run.js uses (it is `execute`, with its own handling of a command not found), each from its
// own module: without oclif core's index, which would load all of it.
const fromOwnModule = {
  Config: 'config',
  execute: 'execute',
  flush: 'flush',
  handle: 'handle',
  normalizeArgv: 'help',
  run: 'run',
}
const runEntry = [
  ...oclifNames
    .filter((n) => !(n in fromOwnModule))
    .map(
      (n) =>
        `Object.defineProperty(exports, ${JSON.stringify(n)}, {enumerable: true, get: () => require('@oclif/core')[${JSON.stringify(n)}]})`,
    ),
  ...Object.entries(fromOwnModule).map(
    ([n, path]) =>
      `Object.defineProperty(exports, ${JSON.stringify(n)}, {enumerable: true, get: () => require('@oclif/core/${path}')[${JSON.stringify(n)}]})`,
  ),
].join('\n')
// Only import(<expression>): esbuild bundles import('<literal>') itself.
const IMPORT_CALL = /(?<![\w.$"'`])import\((?!["'])/g
const hostImport = {
  name: 'cnidbg-host-import',
  setup(b) {
    b.onLoad({filter: /\.[cm]?js$/}, (args) => {
      const text = readFileSync(args.path, 'utf8')
      if (text.search(IMPORT_CALL) < 0) return undefined
      return {contents: text.replaceAll(IMPORT_CALL, '__cnidbgImport('), loader: 'js'}
    })
  },
}
/**
 * Fast paths, proven equal to the modules they wrap by their tests, wherever oclif core uses those
 * modules: string-width for printable ASCII (scripts/ascii-string-width.cjs) and ejs for text without
 * tags (scripts/ejs-plain-text.cjs). Help measures and renders every line through them.
 */
const FAST_PATHS = {'string-width': 'ascii-string-width.cjs', ejs: 'ejs-plain-text.cjs'}
const fastPaths = {
  name: 'cnidbg-fast-paths',
  setup(b) {
    b.onResolve({filter: /^(string-width|ejs)$/}, async (args) => {
      if (args.pluginData === 'original') return undefined
      const real = await b.resolve(args.path, {resolveDir: args.resolveDir, kind: args.kind, pluginData: 'original'})
      if (real.errors.length > 0) return {errors: real.errors}
      return {path: real.path, namespace: 'cnidbg-fast-path', pluginData: FAST_PATHS[args.path]}
    })
    b.onLoad({filter: /.*/, namespace: 'cnidbg-fast-path'}, (args) => ({
      contents: `module.exports = require(${JSON.stringify(join(root, 'scripts', args.pluginData))})(require(${JSON.stringify(args.path)}))`,
      resolveDir: root,
      loader: 'js',
    }))
  },
}
/**
 * An esbuild plugin that bundles the files `filter` matches as `patch` rewrites them. Each patch below
 * checks that the module still has what it rewrites and throws otherwise, so a dependency that changed
 * fails the build instead of going into the bundle unpatched.
 */
function sourcePatch(name, filter, patch) {
  return {
    name,
    setup(b) {
      b.onLoad({filter}, (args) => ({contents: patch(readFileSync(args.path, 'utf8'), args.path), loader: 'js'}))
    },
  }
}
/** `text` with its one `anchor` replaced; throws, naming `what` was expected, when it has none. */
function replaceAnchor(text, anchor, replacement, what) {
  if (!text.includes(anchor)) throw new Error(`bundle-cli: ${what}`)
  return text.replace(anchor, replacement)
}
/**
 * fdir (under oclif's tinyglobby) probes for its optional peer picomatch with require.resolve before
 * requiring it. In the bundle that require is picomatch bundled beside it, but the probe still walks
 * node_modules from run.cjs on every start; without it fdir takes the bundled copy as it would anyway.
 */
const noPeerProbe = sourcePatch('cnidbg-no-peer-probe', /[\\/]fdir[\\/]dist[\\/]index\.cjs$/, (text, path) =>
  replaceAnchor(text, 'require.resolve("picomatch");', '', `fdir no longer probes for picomatch as expected: ${path}`),
)
/**
 * oclif core sorts a plugin's commands by id with localeCompare on every start. The first localeCompare
 * of a process sets up ICU's collator: about a tenth of `cnidbg trace --help`. Our command ids are
 * lower-case ASCII words joined by ':' and '-', which sort the same by UTF-16 code units;
 * test/scripts/command-order.ts holds the two orders equal for every id in oclif.manifest.json.
 */
const noCollatorSort = sourcePatch(
  'cnidbg-no-collator-sort',
  /[\\/]@oclif[\\/]core[\\/]lib[\\/]config[\\/]plugin\.js$/,
  (text, path) =>
    replaceAnchor(
      text,
      '.sort((a, b) => a.id.localeCompare(b.id))',
      '.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))',
      `oclif core no longer sorts commands with localeCompare as expected: ${path}`,
    ),
)
/** What oclif core may read of wsl-utils: what scripts/wsl-utils-lazy.mjs exports (lazyWslUtils below). */
const WSL_UTILS_NAMES = ['isWsl', 'powerShellPath']
/**
 * Two oclif core modules require a built-in at their top that they use only off the start-up path:
 * util/os.js takes node:child_process for execSync, which it runs only on Windows, and performance.js
 * takes node:perf_hooks, used only when its timing is on (oclif's performanceEnabled setting or
 * enablePerf option). Loading the two costs every start over a millisecond (child_process brings dgram
 * and net's process wrappers; perf_hooks ten internal modules). Each binding becomes an object whose
 * members require the built-in on first use, so the module behaves as before; the build fails if either
 * module uses a member not listed here.
 */
const LAZY_BUILTINS = [
  {
    file: /[\\/]@oclif[\\/]core[\\/]lib[\\/]util[\\/]os\.js$/,
    name: 'node_child_process_1',
    id: 'node:child_process',
    members: ['execSync'],
    // The one importer of wsl-utils (lazyWslUtils below), reading only the names it provides.
    also: (text) => {
      const names = [...text.matchAll(/import\('wsl-utils'\)\)\.(\w+)/g)].map((m) => m[1])
      return names.length === text.split('wsl-utils').length - 1 && names.every((n) => WSL_UTILS_NAMES.includes(n))
    },
  },
  {
    file: /[\\/]@oclif[\\/]core[\\/]lib[\\/]performance\.js$/,
    name: 'node_perf_hooks_1',
    id: 'node:perf_hooks',
    members: ['performance', 'PerformanceObserver'],
  },
]
const lazyBuiltins = LAZY_BUILTINS.map(({file, name, id, members, also}) =>
  sourcePatch(`cnidbg-lazy-${id}`, file, (text, path) => {
    const decl = `const ${name} = require(${JSON.stringify(id)});`
    const uses = [...text.matchAll(new RegExp(`\\b${name}\\b(\\.\\w+)?`, 'g'))].map((m) => m[1]?.slice(1))
    // The declaration (replaceAnchor checks it is there), then only member reads of the listed members,
    // and no import() to rewrite: this plugin's contents are final.
    const fits =
      uses.filter((m) => m === undefined).length === 1 &&
      uses.every((m) => m === undefined || members.includes(m)) &&
      text.search(IMPORT_CALL) < 0 &&
      (also?.(text) ?? true)
    const getters = members.map((m) => `get ${m}() { return require(${JSON.stringify(id)}).${m} }`).join(', ')
    const what = `${path} no longer uses ${id} as expected`
    if (!fits) throw new Error(`bundle-cli: ${what}`)
    return replaceAnchor(text, decl, `const ${name} = {${getters}};`, what)
  }),
)
/**
 * oclif core imports wsl-utils on every start, for one name: it gets scripts/wsl-utils-lazy.mjs instead,
 * which says why. What oclif core may read of it is checked where util/os.js loads (LAZY_BUILTINS).
 */
const WSL_UTILS_LAZY = join(root, 'scripts', 'wsl-utils-lazy.mjs')
const lazyWslUtils = {
  name: 'cnidbg-lazy-wsl-utils',
  setup(b) {
    b.onResolve({filter: /^wsl-utils$/}, (args) =>
      args.importer === WSL_UTILS_LAZY ? undefined : {path: WSL_UTILS_LAZY},
    )
  },
}
/** oclif's wrap-ansi returns a line without escape codes as soon as it is wrapped (wrap-ansi-plain-text.cjs). */
const wrapAnsiPlainText = sourcePatch(
  'cnidbg-wrap-ansi-plain-text',
  /[\\/]wrap-ansi[\\/]index\.js$/,
  createRequire(import.meta.url)('./wrap-ansi-plain-text.cjs'),
)
const run = await build({
  ...common,
  stdin: {contents: runEntry, resolveDir: root, loader: 'js'},
  outfile: runFile,
  format: 'cjs',
  minify: true,
  plugins: [noPeerProbe, noCollatorSort, ...lazyBuiltins, lazyWslUtils, wrapAnsiPlainText, hostImport, fastPaths],
  banner: {
    js: "var __cnidbgImport = typeof __cnidbgHostImport === 'function' ? __cnidbgHostImport : (s) => import(s);",
  },
})
// The names LAZY_BUILTINS checks are util/os.js's: no other module may import wsl-utils and get them.
const wslImporters = Object.entries(run.metafile.inputs)
  .filter(([, {imports}]) => imports.some((i) => i.path.endsWith('scripts/wsl-utils-lazy.mjs')))
  .map(([input]) => input)
if (wslImporters.length !== 1 || !/@oclif\/core\/lib\/util\/os\.js$/.test(wslImporters[0]))
  throw new Error(
    `bundle-cli: wsl-utils is imported by ${wslImporters.join(', ') || 'nothing'}, not by oclif core's util/os.js alone`,
  )
if ((readFileSync(runFile, 'utf8').match(IMPORT_CALL) ?? []).length !== 1)
  throw new Error('bundle-cli: run.cjs has an import() left besides the fallback in its banner')

// --- the commands.
/**
 * A module that finds files from its own location (dist/plugins, the lab's programs, the spy; ink reads
 * its package.json under DEV=true) must keep seeing its original path once bundled: its `import.meta.url`
 * becomes a marker string here, and after the build each marker becomes that path, resolved from
 * whichever output file the module landed in. Imports of oclif core become a marker too, replaced by the
 * path to run.cjs.
 */
const MARK = 'cnidbg-module-url:'
const OCLIF = 'cnidbg-oclif-core'
// esbuild hands over real paths; node_modules may be a symlink, and the path through it is the stable one.
const nodeModules = join(root, 'node_modules')
const realNodeModules = existsSync(nodeModules) ? realpathSync(nodeModules) : nodeModules
const fromRoot = (path) =>
  path.startsWith(realNodeModules + sep) ? join(nodeModules, path.slice(realNodeModules.length)) : path
const markers = {
  name: 'cnidbg-markers',
  setup(b) {
    b.onResolve({filter: /^@oclif\/core$/}, () => ({path: OCLIF, external: true}))
    b.onLoad({filter: /\.[cm]?js$/}, (args) => {
      const text = readFileSync(args.path, 'utf8')
      if (!text.includes('import.meta.url')) return undefined
      const marker = JSON.stringify(MARK + relative(root, fromRoot(args.path)).split(sep).join('/'))
      return {contents: text.replaceAll('import.meta.url', marker), loader: 'js'}
    })
  },
}

const entryPoints = {}
for (const f of readdirSync(commandsDir, {recursive: true}).sort()) {
  if (f.endsWith('.js') && statSync(join(commandsDir, f)).isFile())
    entryPoints[join('commands', f.slice(0, -'.js'.length))] = join(commandsDir, f)
}
const commands = await build({
  ...common,
  entryPoints,
  outdir,
  splitting: true,
  chunkNames: 'chunks/[hash]',
  format: 'esm',
  plugins: [markers],
  // Some of ink's dependencies are CommonJS: give them a require().
  banner: {
    js: "import {createRequire as __cnidbgCliRequire} from 'node:module'; const require = __cnidbgCliRequire(import.meta.url);",
  },
})

// The commands are ESM; they take oclif core from run.cjs as bin/run.js registered it in require's cache.
const oclifShim = join(outdir, 'oclif.js')
writeFileSync(
  oclifShim,
  [
    '// oclif core for the bundled commands: the instance bin/run.js loaded (scripts/bundle-cli.mjs).',
    "import {createRequire} from 'node:module'",
    "const oclif = createRequire(import.meta.url)('./run.cjs')",
    ...oclifNames.map((n) => `export const ${n} = oclif.${n}`),
    '',
  ].join('\n'),
)

const posix = (p) => p.split(sep).join('/')
const dotted = (p) => (p.startsWith('.') ? p : `./${p}`)
let kept = 0
for (const out of Object.keys(commands.metafile.outputs)) {
  const file = resolve(root, out)
  const text = readFileSync(file, 'utf8')
  const fixed = text
    .replaceAll(new RegExp(`"${MARK}([^"]+)"`, 'g'), (_, path) => {
      kept++
      return `new URL(${JSON.stringify(posix(relative(dirname(file), join(root, path))))}, import.meta.url).href`
    })
    .replaceAll(`"${OCLIF}"`, JSON.stringify(dotted(posix(relative(dirname(file), oclifShim)))))
  if (fixed.includes(MARK) || fixed.includes(OCLIF)) throw new Error(`bundle-cli: a marker is left in ${out}`)
  if (fixed !== text) writeFileSync(file, fixed)
}

const outputs = [...Object.entries(run.metafile.outputs), ...Object.entries(commands.metafile.outputs)]
const total = outputs.reduce((n, [, o]) => n + o.bytes, 0)
process.stderr.write(
  `bundled the CLI into dist/bundle: run.cjs (oclif core, ${(run.metafile.outputs[relative(root, runFile)]?.bytes / 1e3).toFixed(0)} kB) ` +
    `and ${Object.keys(entryPoints).length} commands; ${outputs.length} files, ${(total / 1e6).toFixed(1)} MB; ` +
    `${kept} module path(s) kept\n`,
)
