// The guard of the trace tests' hint runner (test/helpers/trace-assert.ts): a fix hint runs whole
// through `sh -c`, so every command in it must run in a test namespace. Nothing here is run.
import t from 'tap'

import {assertSafeHint} from '../helpers/trace-assert.js'

t.test('every command of a hint must run in a test namespace', async (t) => {
  t.doesNotThrow(() => assertSafeHint('ip -n cnidbg-trc-1-n0 link set dev eth0 up'))
  t.doesNotThrow(() =>
    assertSafeHint(
      'ip -n cnidbg-trc-1-n0 route replace 198.18.0.1 dev eth0 scope link && ip -n cnidbg-trc-1-n0 route replace default via 198.18.0.1 dev eth0',
    ),
  )
  t.doesNotThrow(() => assertSafeHint("ip netns exec cnidbg-trc-1-n1 sysctl -w 'net.ipv4.conf.a b.forwarding=1'"))
  for (const bad of [
    'ip route flush all',
    'ip -n cnidbg-trc-x link show && ip route flush all',
    'ip -n cnidbg-trc-x link show&&ip route flush all',
    'ip -n cnidbg-trc-x link show; ip route flush all',
    'ip -n cnidbg-trc-x link show || ip route flush all',
    'ip -n cnidbg-trc-x link show | sh',
    'ip -n cnidbg-trc-x link show & ip route flush all',
    'ip -n cnidbg-trc-x link show\nip route flush all',
    'ip -n cnidbg-trc-x link show $(ip route flush all)',
    'ip -n cnidbg-trc-x link show `ip route flush all`',
    'ip -n cnidbg-trc-x link show > /etc/passwd',
    'ip -n cnidbg-trc-x link show && ',
  ]) {
    t.throws(() => assertSafeHint(bad), /refusing to run hint/, JSON.stringify(bad))
  }
})
