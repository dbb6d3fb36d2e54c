import {applyDenyPolicy, removeDenyPolicy} from './network-policy.js'
import type {FaultDefinition} from './types.js'

/** A deny-all ingress NetworkPolicy selecting one pod: the node daemon drops everything sent to it. */
export const policyDenyIngress: FaultDefinition = {
  id: 'policy-deny-ingress',
  title: 'A NetworkPolicy denies all ingress to a pod',
  description:
    "Creates a NetworkPolicy in the pod's namespace whose podSelector matches only that pod (a label the fault adds) and whose policyTypes is Ingress with no rule: the pod becomes default-deny for ingress. Nothing is changed by hand in a kernel: the node daemon writes the DROP into the pod's node, as it enforces any policy. Heal deletes the policy and the label.",
  symptom:
    'nothing reaches the pod (ping and connections time out) while the pod itself still reaches others; `kubectl get networkpolicy` lists the policy',
  scope: 'pod',
  modes: ['vxlan', 'host-gw', 'vpc', 'bgp'],
  stopsDaemon: false,
  // The policy stays in the API when its pod goes: heal deletes it all the same.
  outlivesPod: true,
  async apply(ctx, {node, pod}) {
    return applyDenyPolicy(ctx.state, node, pod!, 'Ingress', ctx.remember)
  },
  async heal(ctx, {node, pod}, undo) {
    await removeDenyPolicy(ctx.state, node, pod!, undo)
  },
}
