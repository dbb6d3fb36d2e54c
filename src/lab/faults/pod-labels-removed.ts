import {PatchStrategy, setHeaderOptions} from '../../kube/client.js'
import {labApi} from '../k8s.js'
import type {FaultDefinition} from './types.js'

/** The lab's own labels (which lab a pod is of) stay: only the ones Services select by go. */
const KEEP = /^cnidbg\.dev\//

/**
 * The pod loses the labels Services select it by: the endpoints controller takes it out of their
 * EndpointSlices, and a Service whose only endpoint it was has none.
 */
export const podLabelsRemoved: FaultDefinition = {
  id: 'pod-labels-removed',
  title: "The pod's labels are removed",
  description:
    "Removes the pod's labels in the API (all but the lab's own cnidbg.dev/* ones). The endpoints controller drops the pod from the EndpointSlices of every Service whose selector matched it, and the service proxies drop it from their KUBE-SVC chains; a Service it was the only endpoint of has no endpoints, and its ClusterIP is REJECTed. The pod's network is untouched.",
  symptom:
    'connections to a Service that selected the pod are refused (no endpoints); `kubectl get endpointslices` lists none for it; the pod itself still answers on its IP',
  scope: 'pod',
  modes: ['vxlan', 'host-gw', 'vpc', 'bgp'],
  stopsDaemon: false,
  async apply(ctx, {pod}) {
    const api = labApi(ctx.state)
    const p = await api.readNamespacedPod({name: pod!.name, namespace: pod!.namespace})
    const labels = p.metadata?.labels ?? {}
    const removed = Object.fromEntries(Object.entries(labels).filter(([k]) => !KEEP.test(k)))
    ctx.remember({labels: removed})
    await api.patchNamespacedPod(
      {
        name: pod!.name,
        namespace: pod!.namespace,
        body: {metadata: {labels: Object.fromEntries(Object.keys(removed).map((k) => [k, null]))}},
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )
    return {
      undo: {labels: removed},
      summary: `removed labels ${Object.entries(removed)
        .map(([k, v]) => `${k}=${v}`)
        .join(',')} from pod ${pod!.namespace}/${pod!.name}`,
    }
  },
  async heal(ctx, {pod}, undo) {
    const labels = undo.labels as Record<string, string>
    if (!Object.keys(labels).length) return
    await labApi(ctx.state).patchNamespacedPod(
      {name: pod!.name, namespace: pod!.namespace, body: {metadata: {labels}}},
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )
  },
}
