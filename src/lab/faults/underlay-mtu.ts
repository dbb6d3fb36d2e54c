import {ip, ipJson} from '../../netns/netns.js'
import type {FaultDefinition} from './types.js'

const FAULT_MTU = 1400

/**
 * The underlay's MTU shrinks below what the nodes think it is (their eth0 stays 1500): a path MTU
 * black hole. Small packets pass; full-size ones are dropped silently, with no ICMP "fragmentation
 * needed" to tell anyone.
 */
export const underlayMtu: FaultDefinition = {
  id: 'underlay-mtu',
  title: 'The underlay MTU is too small for the overlay',
  description: `Lowers the MTU of the underlay bridge ports (in the underlay namespace) to ${FAULT_MTU}, for every node or only --node. The nodes' eth0 still say 1500, so the VXLAN device keeps MTU 1450 and pods keep 1450 (vxlan) or 1500 (host-gw): full-size frames are dropped at the port. Pings work; big packets, and so TCP bulk transfers, stall.`,
  symptom: `ping works, but \`ping -s 1400 -M do\` gets no reply and TCP transfers hang after the handshake`,
  scope: 'underlay',
  modes: ['vxlan', 'host-gw'],
  stopsDaemon: false,
  async apply(ctx, {nodes}) {
    const ul = ctx.state.underlay.netns
    const saved: Record<string, number> = {}
    for (const n of nodes!) {
      const [l] = await ipJson<Array<{mtu: number}>>(['link', 'show', 'dev', n.underlayPort], ul)
      saved[n.underlayPort] = l?.mtu ?? 1500
    }
    ctx.remember({mtus: saved})
    for (const port of Object.keys(saved)) await ip(['link', 'set', 'dev', port, 'mtu', String(FAULT_MTU)], ul)
    return {undo: {mtus: saved}, summary: `underlay ports ${Object.keys(saved).join(', ')}: mtu ${FAULT_MTU}`}
  },
  async heal(ctx, _target, undo) {
    for (const [port, mtu] of Object.entries(undo.mtus as Record<string, number>)) {
      await ip(['link', 'set', 'dev', port, 'mtu', String(mtu)], ctx.state.underlay.netns)
    }
  },
}
