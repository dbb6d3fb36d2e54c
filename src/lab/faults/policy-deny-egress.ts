import {applyDenyPolicy, removeDenyPolicy} from './network-policy.js'
import type {FaultDefinition} from './types.js'

/** A deny-all egress NetworkPolicy selecting one pod: the node daemon drops everything it sends. */
export const policyDenyEgress: FaultDefinition = {
  id: 'policy-deny-egress',
  title: 'A NetworkPolicy denies all egress from a pod',
  description:
    "Creates a NetworkPolicy in the pod's namespace whose podSelector matches only that pod (a label the fault adds) and whose policyTypes is Egress with no rule: the pod becomes default-deny for egress, so every packet it starts is dropped on its node. Replies to connections others open to it still pass. The node daemon writes the DROP, as it enforces any policy. Heal deletes the policy and the label.",
  symptom:
    'the pod reaches nothing (ping and connections from it time out) while other pods still reach it; `kubectl get networkpolicy` lists the policy',
  scope: 'pod',
  modes: ['vxlan', 'host-gw', 'vpc', 'bgp'],
  stopsDaemon: false,
  // The policy stays in the API when its pod goes: heal deletes it all the same.
  outlivesPod: true,
  async apply(ctx, {node, pod}) {
    return applyDenyPolicy(ctx.state, node, pod!, 'Egress', ctx.remember)
  },
  async heal(ctx, {node, pod}, undo) {
    await removeDenyPolicy(ctx.state, node, pod!, undo)
  },
}
