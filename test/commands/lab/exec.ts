import t from 'tap'

import {mocker} from '../../helpers/mocking.js'

const mockImport = await mocker(t, import.meta.url)

t.test('lab exec takes the command after -- and exits with its code', async (t) => {
  let got: any
  const {default: LabExec} = await mockImport<typeof import('../../../src/commands/lab/exec.js')>(
    t,
    '../../../src/commands/lab/exec.js',
    {
      '../../../src/services/lab.js': {
        ...(await import('../../../src/services/lab.js')),
        labExec: async (o: any) => {
          got = o
          return {pod: o.pod, netns: 'cnidbg-lab-x-node1-pod-a', exitCode: 3}
        },
      },
    },
  )
  const before = process.exitCode
  t.teardown(() => {
    process.exitCode = before
  })
  await LabExec.run(['pod-a', '--name', 'x', '--', 'ping', '-c', '1', '-W', '1', '10.244.2.2'])
  t.same(
    got,
    {name: 'x', pod: 'pod-a', namespace: 'default', command: ['ping', '-c', '1', '-W', '1', '10.244.2.2']},
    'verbatim, in order',
  )
  t.equal(process.exitCode, 3)
})
