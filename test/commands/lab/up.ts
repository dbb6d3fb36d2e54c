import t, {type Test} from 'tap'

import {mocker} from '../../helpers/mocking.js'

const mockImport = await mocker(t, import.meta.url)

const fakeResult = {
  name: 'x',
  mode: 'host-gw',
  dir: '/d',
  kubeconfig: '/d/kubeconfig',
  apiserver: 'http://127.0.0.1:1',
  topology: '/d/lab.json',
  nodes: [],
  pods: [],
  reaped: [],
  durationMs: 1,
}

/** The lab up command with labUp standing in: `calls` holds the options of each call. */
async function mockLabUp(t: Test, steps: Array<{id: string; title: string}> = []) {
  const calls: any[] = []
  const {default: LabUp} = await mockImport<typeof import('../../../src/commands/lab/up.js')>(
    t,
    '../../../src/commands/lab/up.js',
    {
      '../../../src/services/lab.js': {
        ...(await import('../../../src/services/lab.js')),
        LAB_UP_STEPS: steps,
        labUp: async (o: any) => {
          calls.push(o)
          return fakeResult
        },
      },
    },
  )
  return {LabUp, calls}
}

t.test('lab up passes its flags to labUp and returns its result', async (t) => {
  const {LabUp, calls} = await mockLabUp(t, [{id: 'preflight', title: 'Check'}])
  const result = await LabUp.run([
    '--nodes',
    '2',
    '--pods-per-node',
    '1',
    '--mode',
    'host-gw',
    '--name',
    'x',
    '--timeout',
    '30',
    '--json',
  ])
  t.same(calls.at(-1), {name: 'x', nodes: 2, podsPerNode: 1, mode: 'host-gw', topology: 'flat', timeoutSeconds: 30})
  t.same(result, fakeResult)
  await LabUp.run(['--mode', 'bgp', '--topology', 'routed', '--json'])
  t.match(calls.at(-1), {mode: 'bgp', topology: 'routed'}, '--mode bgp --topology routed')
})

t.test('--held-by, or CNIDBG_LAB_HELD_BY, ties the lab to a process', async (t) => {
  const {LabUp, calls} = await mockLabUp(t)
  await LabUp.run(['--held-by', String(process.pid), '--json'])
  t.equal(calls.at(-1).heldBy, process.pid, '--held-by')
  const before = process.env.CNIDBG_LAB_HELD_BY
  t.teardown(() => {
    if (before === undefined) delete process.env.CNIDBG_LAB_HELD_BY
    else process.env.CNIDBG_LAB_HELD_BY = before
  })
  process.env.CNIDBG_LAB_HELD_BY = '4242'
  await LabUp.run(['--json'])
  t.equal(calls.at(-1).heldBy, 4242, 'CNIDBG_LAB_HELD_BY')
  delete process.env.CNIDBG_LAB_HELD_BY
  await LabUp.run(['--json'])
  t.notOk('heldBy' in calls.at(-1), 'neither: held for nothing')
})

t.test('lab up refuses an unknown mode before doing anything', async (t) => {
  const {LabUp, calls} = await mockLabUp(t)
  const before = process.exitCode
  t.teardown(() => {
    process.exitCode = before
  })
  await LabUp.run(['--mode', 'geneve', '--json'])
  t.equal(process.exitCode, 2, 'usage error')
  t.equal(calls.length, 0, 'labUp never ran')
})
