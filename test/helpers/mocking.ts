/**
 * Module mocking for the few test files that replace a module (a command's service in test/commands/,
 * the namespace runner that test/kernel/pods.ts watches). tap's mock plugin would load its loader
 * hooks into every test process, about 0.1 s of CPU each, for seven files of two hundred, so it is
 * left out of package.json's tap plugins and these files load @tapjs/mock's hooks themselves,
 * through `mocker`.
 *
 * `mocker` also proves that mocking works before a test relies on it. A mock that does not take
 * imports the real module without a word, and a command test meant to call a stand-in then runs
 * the real thing as root: it once brought up labs, and `ref install` would write into the paths the
 * test made up.
 */
import {existsSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import {TapMock} from '@tapjs/mock'
import type {Test} from 'tap'

/** Imports `module` with the modules named in `mocks` replaced, as tap's t.mockImport does. */
export type MockImport = <T = unknown>(t: Test, module: string, mocks?: Record<string, unknown>) => Promise<T>

let hooks: Promise<unknown> | undefined

/**
 * A mockImport whose relative paths (the module and the keys of `mocks`) are relative to `from`,
 * the calling test file's import.meta.url; the mocks go when the test given to each call ends. It
 * throws, before any test runs, unless a mock takes.
 */
export async function mocker(t: Test, from: string): Promise<MockImport> {
  // The hooks apply to the imports after this one, which is all a mockImport needs.
  await (hooks ??= import('@tapjs/mock/import'))
  const bound =
    (base: string): MockImport =>
    async (t, module, mocks = {}) => {
      const absolute = (p: string) => (p.startsWith('./') || p.startsWith('../') ? new URL(p, base).href : p)
      const resolved = Object.fromEntries(Object.entries(mocks).map(([k, v]) => [absolute(k), v]))
      // An absolute module must exist to be mocked: `x.js` in an import is `x.ts` here, as the
      // test loader resolves it.
      const file = fileURLToPath(absolute(module))
      const target = existsSync(file) ? file : file.replace(/\.js$/, '.ts')
      return (await new TapMock(t).mockImport(target, resolved)) as never
    }
  const {canary} = await bound(import.meta.url)<typeof import('./mock-canary.js')>(t, './mock-canary.js', {
    './mock-canary-dep.js': {source: 'mocked'},
  })
  if (canary() !== 'mocked') throw new Error('@tapjs/mock does not mock here: a command test would run the real thing')
  return bound(from)
}
