// args.ips-precedence asks for addresses inside the config's range, runs args.cni.ips alone first,
// and blames only the combined run: Debian's host-local, which takes both and fails, is a known
// departure (a warning), not a plugin that "does not support requested IPs".
import {EventEmitter} from 'node:events'

import t from 'tap'

import {pickAddresses} from '../../src/checks/args-ips-precedence.js'
import {type RunEmitter, runConformance} from '../../src/conformance/runner.js'
import {installSignalCleanup} from '../../src/process/cleanup.js'
import {assertNothingLeft, machineState} from '../helpers/machine.js'

const ROOT = new URL('../../', import.meta.url).pathname
installSignalCleanup()
const before = await machineState()

t.test('pickAddresses: the last two of the first IPv4 range, not the gateway', async (t) => {
  t.same(pickAddresses({subnet: '10.1.2.0/24'}), ['10.1.2.254', '10.1.2.253'])
  t.same(pickAddresses({rangeEnd: '10.1.2.50', subnet: '10.1.2.0/24'}), ['10.1.2.50', '10.1.2.49'])
  t.same(
    pickAddresses({
      ranges: [[{subnet: 'fd00::/64'}], [{gateway: '10.1.0.50', rangeEnd: '10.1.0.50', subnet: '10.1.0.0/16'}]],
    }),
    ['10.1.0.49', '10.1.0.48'],
    'the IPv4 range of a dual-stack config, around its gateway',
  )
  t.same(pickAddresses({rangeEnd: '10.1.2.11', rangeStart: '10.1.2.10', subnet: '10.1.2.0/24'}), [
    '10.1.2.11',
    '10.1.2.10',
  ])
  t.equal(
    pickAddresses({rangeEnd: '10.1.2.10', rangeStart: '10.1.2.10', subnet: '10.1.2.0/24'}),
    undefined,
    'one address',
  )
  t.equal(pickAddresses({subnet: 'fd00::/64'}), undefined, 'no IPv4 range')
  t.equal(pickAddresses(undefined), undefined)
})

t.test(
  "Debian's host-local: args.cni.ips alone works, with CNI_ARGS IP= too it fails (a known departure)",
  async (t) => {
    const report = await runConformance(
      {
        cniPath: ['/usr/lib/cni'],
        conf: `${ROOT}fixtures/conf/upstream-host-local.conflist`,
        host: false,
        only: ['args.ips-precedence'],
        parallel: 1,
        profile: 'default',
        role: 'ipam',
        strict: false,
        timeoutSeconds: 30,
      },
      new EventEmitter() as RunEmitter,
    )
    t.match(report.checks, [
      {
        decidedBy: 'upstream-departure',
        message: /with CNI_ARGS IP=10\.200\.5\.199 as well it fails: .*failed to allocate all requested IPs/,
        status: 'warn',
      },
    ])
  },
)

t.test('left nothing behind', async (t) => {
  await assertNothingLeft(t, before)
})
