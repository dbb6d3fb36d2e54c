/**
 * The CLI bundle sorts oclif's commands by UTF-16 code units instead of localeCompare
 * (scripts/bundle-cli.mjs, noCollatorSort): both orders must be the same for every command id there is.
 */
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

const REPO = join(import.meta.dirname, '..', '..')
const manifest = JSON.parse(readFileSync(join(REPO, 'oclif.manifest.json'), 'utf8')) as {
  commands: Record<string, unknown>
}

t.test('command ids sort the same by code units as by localeCompare', async (t) => {
  const ids = Object.keys(manifest.commands)
  t.ok(ids.length > 20, `the manifest lists the commands (${ids.length})`)
  const byUnits = [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  const byLocale = [...ids].sort((a, b) => a.localeCompare(b))
  t.same(byUnits, byLocale)
  // Where the two orders part: a case, a digit or other punctuation would need a look at this sort.
  t.same(
    ids.filter((id) => !/^[a-z]+([:-][a-z]+)*$/.test(id)),
    [],
    'every id is lower-case words joined by ":" and "-"',
  )
})
