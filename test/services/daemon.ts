import t from 'tap'

import type {RunDaemonResult} from '../../src/daemon/daemon.js'
import {settleDaemon} from '../../src/services/daemon.js'

const result = (healthy: boolean): RunDaemonResult =>
  ({
    node: 'node1',
    mode: 'vxlan',
    address: null,
    healthy,
    problem: healthy ? undefined : 'peer node2 has no route',
  }) as RunDaemonResult

t.test('a healthy end is exit 0, for people and scripts alike', async (t) => {
  t.equal(settleDaemon(result(true), false), 0)
  t.equal(settleDaemon(result(true), true), 0)
})

t.test(
  'an unhealthy end is exit 1 with the result for a script, an error naming the problem for a person',
  async (t) => {
    t.equal(settleDaemon(result(false), true), 1)
    t.throws(() => settleDaemon(result(false), false), {
      message: /Node node1 did not converge: peer node2 has no route/,
      code: 'DAEMON_NOT_HEALTHY',
      oclif: {exit: 1},
    })
  },
)
