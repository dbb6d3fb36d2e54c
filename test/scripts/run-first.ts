// test/run-first.txt names the test files scripts/test.sh starts first, in a tap run of their own: each
// line must name a file the whole run would run, once, or that file would run twice or not at all.
import {execFileSync} from 'node:child_process'
import {readFileSync} from 'node:fs'

import t from 'tap'

import {ROOT} from '../helpers/capture.js'

const listed = readFileSync(`${ROOT}test/run-first.txt`, 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'))
// tap's own list of the files a whole run runs (its include and exclude config applied).
const all = execFileSync(`${ROOT}node_modules/.bin/tap`, ['list'], {cwd: ROOT, encoding: 'utf8'}).split('\n')

t.ok(listed.length > 0, 'test/run-first.txt names files')
t.same(
  listed.filter((f) => !all.includes(f)),
  [],
  'every file it names is one tap runs',
)
t.same(
  listed.filter((f, i) => listed.indexOf(f) !== i),
  [],
  'no file twice',
)
t.match(readFileSync(`${ROOT}scripts/test.sh`, 'utf8'), /test\/run-first\.txt/, 'scripts/test.sh reads it')
