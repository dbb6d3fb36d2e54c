/**
 * The built CLI as bin/run.js starts it: oclif core bundled into dist/bundle/run.cjs (compiled with a V8
 * code cache), each command bundled under dist/bundle/commands (scripts/bundle-cli.mjs). Everything
 * package.json names must exist, every command must be in the manifest and load from the bundle, and
 * the bundle must behave like the unbundled code did.
 */
import {cpSync, existsSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {join, relative, resolve, sep} from 'node:path'
import {fileURLToPath} from 'node:url'

import t from 'tap'

import {run} from '../../src/process/exec.js'
import {ROOT} from '../helpers/capture.js'
import {privateTmpdir} from '../helpers/machine.js'

interface PackageJson {
  version: string
  name: string
  bin?: string | Record<string, string>
  main?: string
  exports?: unknown
  files?: string[]
  oclif: {commands: string | {target: string}}
}

const pjson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson
const bin = join(ROOT, 'bin', 'run.js')
const noDist = existsSync(join(ROOT, 'dist', 'bundle', 'run.cjs'))
  ? false
  : 'dist/ is not built: run `npm run build` first'
const tmp = privateTmpdir(t)

/** Every file path inside an `exports` value (a string, conditions or subpaths). */
function exportPaths(value: unknown): string[] {
  if (typeof value === 'string') return [value]
  if (value && typeof value === 'object') return Object.values(value).flatMap(exportPaths)
  return []
}

t.test('every path package.json names exists after the build', {skip: noDist}, async (t) => {
  const bins = typeof pjson.bin === 'string' ? [pjson.bin] : Object.values(pjson.bin ?? {})
  const commands = typeof pjson.oclif.commands === 'string' ? pjson.oclif.commands : pjson.oclif.commands.target
  const paths = [
    ...bins.map((p) => ['bin', p]),
    ...(pjson.main ? [['main', pjson.main]] : []),
    ...exportPaths(pjson.exports).map((p) => ['exports', p]),
    ['oclif.commands', commands],
    ...(pjson.files ?? []).map((p) => ['files', p]),
  ]
  t.ok(bins.length > 0, 'a bin')
  for (const [field, path] of paths) t.ok(existsSync(resolve(ROOT, path!)), `${field}: ${path} exists`)
})

t.test('the manifest has every command in src/commands, each loading from its bundle', {skip: noDist}, async (t) => {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'oclif.manifest.json'), 'utf8')) as {
    commands: Record<string, {relativePath?: string[]}>
  }
  const srcCommands = join(ROOT, 'src', 'commands')
  const ids = readdirSync(srcCommands, {recursive: true})
    .map(String)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.slice(0, -'.ts'.length).split(sep).join(':'))
    .sort()
  t.ok(ids.length > 0, 'commands found')
  t.same(Object.keys(manifest.commands).sort(), ids, 'the manifest lists exactly the commands in src/commands')
  for (const id of ids) {
    const rel = manifest.commands[id]?.relativePath ?? []
    t.equal(rel.slice(0, 3).join('/'), 'dist/bundle/commands', `${id}: loads from the bundle`)
    t.ok(existsSync(join(ROOT, ...rel)), `${id}: ${rel.join('/')} exists`)
  }
})

t.test('paths the bundled modules find from their own location exist', {skip: noDist}, async (t) => {
  // scripts/bundle-cli.mjs turns a bundled module's import.meta.url into its original path.
  const cli = join(ROOT, 'dist', 'bundle')
  let n = 0
  for (const f of readdirSync(cli, {recursive: true}).map(String)) {
    if (!f.endsWith('.js')) continue
    const text = readFileSync(join(cli, f), 'utf8')
    t.notOk(text.includes('cnidbg-module-url:') || text.includes('cnidbg-oclif-core'), `${f}: no marker left`)
    for (const m of text.matchAll(/new URL\("([^"]+)", import\.meta\.url\)/g)) {
      n++
      const target = fileURLToPath(new URL(m[1]!, `file://${join(cli, f)}`))
      t.ok(existsSync(target), `${f}: ${relative(ROOT, target)} exists`)
    }
  }
  t.ok(n >= 3, 'the reference plugin, lab and spy locate their files from dist/')
})

t.test('--version prints oclif user agent', {skip: noDist}, async (t) => {
  const r = await run(process.execPath, [bin, '--version'], {timeoutMs: 30_000})
  t.equal(r.exitCode, 0)
  t.equal(r.stdout.trim(), `${pjson.name}/${pjson.version} ${process.platform}-${process.arch} node-${process.version}`)
  t.equal(r.stderr, '', 'nothing on stderr')
})

t.test(
  '--version leaves what oclif core uses off the start-up path unloaded, until it is used',
  {skip: noDist},
  async (t) => {
    // scripts/bundle-cli.mjs: LAZY_BUILTINS and lazyWslUtils.
    const hook = join(tmp, 'loaded.cjs')
    writeFileSync(
      hook,
      `if (process.env.PERF === '1') globalThis.oclif = {performanceEnabled: true}
process.on('exit', () => process.stderr.write('loaded: ' + process.moduleLoadList.join(',') + '\\n'))\n`,
    )
    const loaded = (stderr: string) => new Set(/^loaded: (.*)$/m.exec(stderr)?.[1]?.split(',') ?? [])
    const plain = await run(process.execPath, ['-r', hook, bin, '--version'], {timeoutMs: 30_000})
    t.equal(plain.exitCode, 0)
    const mods = loaded(plain.stderr)
    t.ok(mods.has('NativeModule fs'), 'the module list was read')
    for (const m of ['child_process', 'perf_hooks']) t.notOk(mods.has(`NativeModule ${m}`), `node:${m} is not loaded`)
    const {isWsl} = (await import('wsl-utils')) as {isWsl: boolean}
    const platform = isWsl ? 'wsl' : process.platform
    t.match(plain.stdout, ` ${platform}-${process.arch} `, 'the platform oclif core finds with wsl-utils itself')
    // oclif core's timing (its performanceEnabled setting, which the hook sets) reads both members of
    // node:perf_hooks.
    const perf = await run(process.execPath, ['-r', hook, bin, '--version'], {timeoutMs: 30_000, env: {PERF: '1'}})
    t.equal(perf.exitCode, 0, 'with the timing on', {stderr: perf.stderr})
    t.equal(perf.stdout, plain.stdout)
    t.ok(loaded(perf.stderr).has('NativeModule perf_hooks'), 'node:perf_hooks loads when the timing uses it')
  },
)

t.test('a command shares the runner oclif core: run.cjs is loaded once', {skip: noDist}, async (t) => {
  // The commands import oclif core from run.cjs as bin/run.js registered it; were it loaded again, its
  // classes and error types would be a second, different copy.
  const hook = join(tmp, 'count-compiles.cjs')
  writeFileSync(
    hook,
    `const M = require('node:module'); const compile = M.prototype._compile
M.prototype._compile = function (content, filename) {
  if (filename.endsWith('run.cjs')) process.stderr.write('run.cjs compiled by require\\n')
  return compile.call(this, content, filename)
}\n`,
  )
  const r = await run(process.execPath, ['-r', hook, bin, 'exec', 'add', '--no-such-flag'], {timeoutMs: 30_000})
  t.equal(r.exitCode, 2, "oclif's parse error from the command, through the runner's error handling")
  t.match(r.stderr, /Nonexistent flag: --no-such-flag/)
  t.notMatch(r.stderr, /run\.cjs compiled by require/, 'run.cjs was not loaded a second time')
})

t.test('without the code cache, or with a stale one, the CLI says the same', {skip: noDist}, async (t) => {
  const copy = join(tmp, 'copy')
  for (const p of ['package.json', 'oclif.manifest.json', 'bin', join('dist', 'bundle')])
    cpSync(join(ROOT, p), join(copy, p), {recursive: true})
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'))
  const say = async (runJs: string, args: string[]) => {
    const r = await run(process.execPath, [runJs, ...args], {timeoutMs: 30_000, env: {COLUMNS: '80'}})
    return {exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr}
  }
  const cache = join(copy, 'dist', 'bundle', 'run.cjs.cache')
  t.ok(existsSync(cache), 'the build wrote a code cache')
  for (const args of [['--version'], ['trace', '--help'], ['exec', 'add', '--no-such-flag']]) {
    const want = await say(bin, args)
    rmSync(cache, {force: true})
    t.same(await say(join(copy, 'bin', 'run.js'), args), want, `${args.join(' ')}: the same without a cache`)
    writeFileSync(cache, Buffer.alloc(4096, 7))
    t.same(await say(join(copy, 'bin', 'run.js'), args), want, `${args.join(' ')}: the same with a stale cache`)
  }
})
