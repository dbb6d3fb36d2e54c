/**
 * t.mockImport replaces modules only when tap's mock hooks are loaded, as `npx tap` loads them.
 * Run any other way (`node --import ./scripts/test-loader.mjs test/…`), it imports the real modules
 * without a word, and a command test meant to call a stand-in runs the real thing as root: it brought
 * up labs, and `ref install` would write into the paths the test made up. A test file that mocks calls
 * this first, and stops there unless mocking works.
 */
import type {Test} from 'tap'

export async function requireMocking(t: Test): Promise<void> {
  const {canary} = await t.mockImport<typeof import('./mock-canary.js')>('./mock-canary.js', {
    './mock-canary-dep.js': {source: 'mocked'},
  })
  if (canary() !== 'mocked') {
    throw new Error('t.mockImport does not mock here: run this file with tap (npx tap <file>), not with node')
  }
}
