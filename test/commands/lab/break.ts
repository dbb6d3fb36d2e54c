import t from 'tap'

import LabBreak from '../../../src/commands/lab/break.js'
import {FAULTS} from '../../../src/lab/faults/index.js'
import {mocker} from '../../helpers/mocking.js'

const mockImport = await mocker(t, import.meta.url)

t.test('lab break --list --json returns the whole catalog', async (t) => {
  const result = (await LabBreak.run(['--list', '--json'])) as {faults: Array<{id: string}>}
  t.same(
    result.faults.map((f) => f.id),
    FAULTS.map((f) => f.id),
  )
})

t.test('lab break passes the target to labBreak', async (t) => {
  let got: any
  const {default: Cmd} = await mockImport<typeof import('../../../src/commands/lab/break.js')>(
    t,
    '../../../src/commands/lab/break.js',
    {
      '../../../src/services/lab.js': {
        ...(await import('../../../src/services/lab.js')),
        faultCatalog: () => [],
        labBreak: async (o: any) => {
          got = o
          return {
            id: 'ab12',
            fault: o.fault,
            title: '',
            node: 'node1',
            peer: 'node3',
            summary: 's',
            symptom: 'y',
            daemonStopped: true,
          }
        },
      },
    },
  )
  await Cmd.run(['fdb-missing', '--node', 'node1', '--peer', 'node3', '--name', 'x', '--json'])
  t.same(got, {name: 'x', fault: 'fdb-missing', node: 'node1', pod: undefined, namespace: 'default', peer: 'node3'})
})

t.test('lab break without a fault is a usage error', async (t) => {
  const before = process.exitCode
  t.teardown(() => {
    process.exitCode = before
  })
  await LabBreak.run(['--json'])
  t.equal(process.exitCode, 2)
})
