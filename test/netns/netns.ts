import t from 'tap'

import {createNetns, deleteNetnsAll, listNetns} from '../../src/netns/netns.js'
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

t.test('the machine is as before', async (t) => assertNothingLeft(t, before))
