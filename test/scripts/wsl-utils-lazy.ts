/**
 * The CLI bundle gives oclif core scripts/wsl-utils-lazy.mjs for wsl-utils: the two names oclif reads
 * must be what wsl-utils gives, and wsl-utils itself must load only when powerShellPath is called.
 */
import t from 'tap'

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
