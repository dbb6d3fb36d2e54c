// The CNI_* environment of one attachment, as the runtime's operations and the conformance checks'
// hand-made calls both build it.
import t from 'tap'

import {buildCniEnv} from '../../src/runtime/ops.js'

t.test('buildCniEnv: every CNI_* a runtime sets for an attachment (SPEC §2 Parameters)', async (t) => {
  t.same(
    buildCniEnv(['/opt/cni/bin', '/usr/lib/cni'], {
      args: [
        ['IgnoreUnknown', '1'],
        ['K8S_POD_NAME', 'web-0'],
      ],
      containerId: 'c1',
      ifname: 'eth0',
      netns: '/run/netns/x',
    } as Parameters<typeof buildCniEnv>[1]),
    {
      CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web-0',
      CNI_CONTAINERID: 'c1',
      CNI_IFNAME: 'eth0',
      CNI_NETNS: '/run/netns/x',
      CNI_PATH: '/opt/cni/bin:/usr/lib/cni',
    },
  )
  t.same(buildCniEnv([]), {CNI_ARGS: '', CNI_CONTAINERID: '', CNI_IFNAME: '', CNI_NETNS: '', CNI_PATH: ''})
})
