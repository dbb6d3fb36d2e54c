import t from 'tap'

import {bridgeCmd, execCmd, ipCmd, netnsFromPath, netnsLabel, sysctlName} from '../../src/trace/ns-commands.js'

t.test('hints name the namespace the way the host can reach it', async (t) => {
  const named = netnsFromPath('/run/netns/cnidbg-lab-x-n1')
  t.same(named, {path: '/run/netns/cnidbg-lab-x-n1', name: 'cnidbg-lab-x-n1'})
  t.equal(ipCmd(named, 'link set dev eth0 up'), 'ip -n cnidbg-lab-x-n1 link set dev eth0 up')
  t.equal(bridgeCmd(named, 'fdb show'), 'bridge -n cnidbg-lab-x-n1 fdb show')
  t.equal(
    execCmd(named, 'sysctl -w net.ipv4.ip_forward=1'),
    'ip netns exec cnidbg-lab-x-n1 sysctl -w net.ipv4.ip_forward=1',
  )
  const pid = netnsFromPath('/proc/42/ns/net')
  t.equal(pid.name, undefined)
  t.equal(netnsLabel(pid), '/proc/42/ns/net')
  t.equal(ipCmd(pid, 'route show'), 'nsenter --net=/proc/42/ns/net ip route show')
  t.equal(ipCmd({path: 'node:node-3'}, 'route show'), 'on node-3: ip route show')
  t.equal(sysctlName('net', 'ipv4', 'conf', 'cnidbg.1', 'rp_filter'), 'net.ipv4.conf.cnidbg/1.rp_filter')
})

t.test('namespace names and paths are quoted for the shell the hint is pasted into', async (t) => {
  t.equal(ipCmd({path: '/run/netns/x', name: 'cnidbg-x;id'}, 'link show'), "ip -n 'cnidbg-x;id' link show")
  t.equal(bridgeCmd({path: '/run/netns/x', name: 'a b'}, 'fdb show'), "bridge -n 'a b' fdb show")
  t.equal(execCmd({path: '/run/netns/x', name: "it's"}, 'ss -ltn'), "ip netns exec 'it'\\''s' ss -ltn")
  t.equal(ipCmd({path: '/tmp/ns $(id)'}, 'route show'), "nsenter --net='/tmp/ns $(id)' ip route show")
  t.equal(execCmd({path: '/tmp/ns;id'}, 'ss -ltn'), "nsenter --net='/tmp/ns;id' ss -ltn")
})
