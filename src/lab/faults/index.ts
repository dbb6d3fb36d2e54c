import {bgpRouteWithdrawn} from './bgp-route-withdrawn.js'
import {bgpSessionBlocked} from './bgp-session-blocked.js'
import {bgpSpeakerStopped} from './bgp-speaker-stopped.js'
import {conntrackInvalidDrop} from './conntrack-invalid-drop.js'
import {daemonStopped} from './daemon-stopped.js'
import {fdbMissing} from './fdb-missing.js'
import {fdbStale} from './fdb-stale.js'
import {hostVethDown} from './host-veth-down.js'
import {ipForwardOff} from './ip-forward-off.js'
import {iptablesDropForward} from './iptables-drop-forward.js'
import {neighMissing} from './neigh-missing.js'
import {podAddressRemoved} from './pod-address-removed.js'
import {podLabelsRemoved} from './pod-labels-removed.js'
import {podLinkDown} from './pod-link-down.js'
import {policyDenyEgress} from './policy-deny-egress.js'
import {policyDenyIngress} from './policy-deny-ingress.js'
import {routeMissing} from './route-missing.js'
import {routeWrongNode} from './route-wrong-node.js'
import {rpFilterStrict} from './rp-filter-strict.js'
import {serviceNatBypassed} from './service-nat-bypassed.js'
import type {FaultDefinition} from './types.js'
import {underlayMtu} from './underlay-mtu.js'
import {vxlanPortBlocked} from './vxlan-port-blocked.js'
import {vpcRouteDeleted} from './vpc-route-deleted.js'
import {vpcRouteWrongTarget} from './vpc-route-wrong-target.js'
import {vpcSrcDstCheck} from './vpc-src-dst-check.js'

/** Every fault `lab break` knows, in the order `lab break --list` shows them (pod → node → network). */
export const FAULTS: readonly FaultDefinition[] = [
  podLinkDown,
  hostVethDown,
  podAddressRemoved,
  routeMissing,
  routeWrongNode,
  fdbMissing,
  fdbStale,
  neighMissing,
  iptablesDropForward,
  ipForwardOff,
  rpFilterStrict,
  underlayMtu,
  vxlanPortBlocked,
  vpcRouteDeleted,
  vpcRouteWrongTarget,
  vpcSrcDstCheck,
  bgpSessionBlocked,
  bgpRouteWithdrawn,
  bgpSpeakerStopped,
  policyDenyIngress,
  policyDenyEgress,
  podLabelsRemoved,
  serviceNatBypassed,
  conntrackInvalidDrop,
  daemonStopped,
]

/** The faults a trace sees only through a Service (`cnidbg trace POD svc/NAME`): pod-to-pod paths are untouched or, for TCP, dropped without a Service named. */
export const SERVICE_FAULTS: readonly string[] = [podLabelsRemoved.id, serviceNatBypassed.id, conntrackInvalidDrop.id]

export function findFault(id: string): FaultDefinition | undefined {
  return FAULTS.find((f) => f.id === id)
}

export type {FaultDefinition} from './types.js'
