import t from 'tap'

import {networkOf, routeArgs} from '../../../src/lab/faults/kernel.js'

t.test('routeArgs rebuilds `ip route` arguments from ip -j output', async (t) => {
  // Captured from `ip -j route show` in a lab node and pod.
  t.same(
    routeArgs({dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'cnidbg.1', protocol: '205', flags: ['onlink']}),
    ['10.244.2.0/24', 'via', '10.244.2.0', 'dev', 'cnidbg.1', 'proto', '205', 'onlink'],
  )
  t.same(routeArgs({dst: 'default', gateway: '10.244.1.1', dev: 'eth0', flags: []}), [
    'default',
    'via',
    '10.244.1.1',
    'dev',
    'eth0',
  ])
  t.same(routeArgs({dst: '10.244.1.1', dev: 'eth0', scope: 'link', flags: []}), [
    '10.244.1.1',
    'dev',
    'eth0',
    'scope',
    'link',
  ])
  t.same(
    routeArgs({dst: '198.18.0.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link', prefsrc: '198.18.0.2', flags: []}),
    ['198.18.0.0/24', 'dev', 'eth0', 'proto', 'kernel', 'scope', 'link', 'src', '198.18.0.2'],
  )
  t.same(routeArgs({type: 'unreachable', dst: '10.0.0.0/8', metric: 7}), ['unreachable', '10.0.0.0/8', 'metric', '7'])
})

t.test('networkOf gives a peer VTEP address', async (t) => {
  t.equal(networkOf('10.244.2.0/24'), '10.244.2.0')
})
