import t from 'tap'

import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

import {run} from '../../src/process/exec.js'
import {createNetns, deleteNetnsAll, inOneOfNetns, listNetns} from '../../src/netns/netns.js'
import {REPO} from '../helpers/lab.js'
import {assertNothingLeft, machineState} from '../helpers/machine.js'

const before = await machineState()

t.test('deleteNetnsAll removes every namespace named, missing ones being no error', async (t) => {
  const names = ['a', 'b', 'c'].map((r) => `cnidbg-nsall-${process.pid}-${r}`)
  for (const n of names) await createNetns(n)
  t.teardown(() => deleteNetnsAll(names).catch(() => {}))
  await deleteNetnsAll([names[0]!, `cnidbg-nsall-${process.pid}-missing`, names[1]!, names[2]!])
  t.same(
    listNetns().filter((n) => names.includes(n)),
    [],
    'all gone, in one batch',
  )
  await t.resolves(deleteNetnsAll(names), 'deleting them again is fine')
  await t.resolves(deleteNetnsAll([]), 'so is deleting none')
})

t.test('inOneOfNetns tells whether this process is in one of the named namespaces', async (t) => {
  const names = ['in', 'other'].map((r) => `cnidbg-nsin-${process.pid}-${r}`)
  for (const n of names) await createNetns(n)
  t.teardown(() => deleteNetnsAll(names).catch(() => {}))
  t.equal(inOneOfNetns(names), false, 'this test runs in neither')
  t.equal(inOneOfNetns([]), false, 'nor in none')
  t.equal(inOneOfNetns(['cnidbg-nsin-no-such']), false, 'a missing name is not this one')
  // The same function in a process that `ip netns exec` put in the first one.
  const module = pathToFileURL(join(REPO, 'src/netns/netns.ts')).href
  const script = `const m = await import(${JSON.stringify(module)}); console.log(JSON.stringify(process.argv.slice(1).map((n) => m.inOneOfNetns([n]))))`
  const r = await run('ip', [
    'netns',
    'exec',
    names[0]!,
    process.execPath,
    `--import=${pathToFileURL(join(REPO, 'scripts/test-loader.mjs')).href}`,
    '--input-type=module',
    '-e',
    script,
    ...names,
  ])
  t.equal(r.exitCode, 0, r.stderr)
  t.same(JSON.parse(r.stdout), [true, false], 'inside the first: in it, not in the other')
})

t.test('the machine is as before', async (t) => assertNothingLeft(t, before))
