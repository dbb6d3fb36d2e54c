/**
 * The CLI bundle gives oclif core scripts/wsl-utils-lazy.mjs for wsl-utils: the two names oclif reads
 * must be what wsl-utils gives, and wsl-utils itself must load only when powerShellPath is called.
 */
import {fileURLToPath} from 'node:url'

import t from 'tap'

import {run} from '../../src/process/exec.js'

interface WslUtils {
  isWsl: boolean
  powerShellPath: () => Promise<string> | string
}
// A plain script (scripts/ has no types): imported by a path TypeScript does not resolve.
const LAZY: string = '../../scripts/wsl-utils-lazy.mjs'
const lazy = (await import(LAZY)) as WslUtils
const real = (await import('wsl-utils')) as WslUtils

t.test('isWsl is the one wsl-utils has', async (t) => {
  t.equal(lazy.isWsl, real.isWsl)
})

t.test('powerShellPath answers as the one in wsl-utils does', async (t) => {
  t.equal(await lazy.powerShellPath(), await real.powerShellPath())
})

t.test('it exports only what oclif core reads', async (t) => {
  t.same(Object.keys(lazy).sort(), ['isWsl', 'powerShellPath'])
})

t.test('wsl-utils itself (and node:child_process with it) loads only when powerShellPath is called', async (t) => {
  // In a process of its own: this one has loaded both already.
  const url = new URL(LAZY, import.meta.url).href
  const script = `const has = () => process.moduleLoadList.includes('NativeModule child_process')
const lazy = await import(${JSON.stringify(url)})
console.log(JSON.stringify({isWsl: typeof lazy.isWsl, before: has()}))
await lazy.powerShellPath()
console.log(JSON.stringify({after: has()}))`
  const r = await run(process.execPath, ['--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('../../', import.meta.url)),
    timeoutMs: 30_000,
  })
  t.equal(r.exitCode, 0, r.stderr)
  const [first, second] = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
  t.same(first, {isWsl: 'boolean', before: false}, 'isWsl read, child_process not loaded')
  t.same(second, {after: true}, 'powerShellPath loaded wsl-utils')
})
