import {existsSync} from 'node:fs'
import {join} from 'node:path'

import {inNetnsArgv, ip, type Netns, type Sandbox, spawnDetached} from '../netns/index.js'

/** The network the suite's DHCP server serves in a sandbox host (a bridge of that host only). */
const BRIDGE = 'cnidbg-dhcp0'
const GATEWAY = '10.253.20.1/24'
const RANGE = '10.253.20.10,10.253.20.250,255.255.255.0,1h'

/**
 * What the dhcp IPAM plugin needs to work, in one sandbox host: its daemon (the plugin binary run
 * as `dhcp daemon`, listening in the sandbox's own /run/cni) and a DHCP server (dnsmasq) on a bridge
 * the containers' interfaces join. Both run in the sandbox host's network namespace only; the daemon
 * keeps the root mount namespace, so it sees the container namespaces made after it started.
 */
export class DhcpNet {
  private constructor(
    private readonly sb: Sandbox,
    private readonly pids: number[],
  ) {}

  static async start(sb: Sandbox, dhcpPlugin: string): Promise<DhcpNet> {
    const host = sb.host.name
    await ip(['link', 'add', BRIDGE, 'type', 'bridge'], host)
    await ip(['addr', 'add', GATEWAY, 'dev', BRIDGE], host)
    await ip(['link', 'set', BRIDGE, 'up'], host)
    const log = (name: string) => ({logFile: join(sb.root, `${name}.log`)})
    const [dnsmasq, ...dnsmasqArgs] = inNetnsArgv({name: host}, [
      'dnsmasq',
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      '--no-resolv',
      '--no-hosts',
      '--port=0',
      `--interface=${BRIDGE}`,
      '--bind-interfaces',
      `--dhcp-range=${RANGE}`,
      `--dhcp-leasefile=${join(sb.root, 'dnsmasq.leases')}`,
      `--pid-file=${join(sb.root, 'dnsmasq.pid')}`,
      '--user=root',
      // Before offering an address dnsmasq pings it and waits 3 s for an answer, so a lease took over
      // 3 s: the bridge is the sandbox's own, and dnsmasq hands out every address on it.
      '--no-ping',
    ])
    const socket = join(sb.hostPath('/run/cni'), 'dhcp.sock')
    // The plugin finds the daemon at /run/cni/dhcp.sock, which in the sandbox is this file.
    const [daemon, ...daemonArgs] = inNetnsArgv({name: host}, [dhcpPlugin, 'daemon', '-socketpath', socket])
    const net = new DhcpNet(sb, [
      spawnDetached(dnsmasq!, dnsmasqArgs, log('dnsmasq')),
      spawnDetached(daemon!, daemonArgs, log('dhcp-daemon')),
    ])
    for (let i = 0; i < 200 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50))
    if (!existsSync(socket)) {
      await net.stop()
      throw new Error(`the dhcp daemon did not start (see ${join(sb.root, 'dhcp-daemon.log')})`)
    }
    return net
  }

  /** Gives container `ns` an interface `ifname` on the DHCP server's bridge (the link dhcp asks a lease on). */
  async attach(ns: Netns, ifname = 'eth0'): Promise<void> {
    const host = this.sb.host.name
    const peer = `dh${ns.name.slice(-8).replace(/[^a-z0-9]/g, '')}`
    await ip(['link', 'add', peer, 'type', 'veth', 'peer', 'name', ifname, 'netns', ns.name], host)
    await ip(['link', 'set', peer, 'master', BRIDGE, 'up'], host)
    await ip(['link', 'set', ifname, 'up'], ns.name)
  }

  /** Joins a host link (a macvlan master's peer) to the bridge, so what is behind it reaches the server. */
  async join(link: string): Promise<void> {
    await ip(['link', 'set', link, 'master', BRIDGE, 'up'], this.sb.host.name)
  }

  /** Stops the server and the daemon (their process groups). */
  async stop(): Promise<void> {
    for (const pid of this.pids) {
      try {
        process.kill(-pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
  }
}
