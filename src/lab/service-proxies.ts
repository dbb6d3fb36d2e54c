/**
 * The lab's hook for service proxies (src/service-proxy): one proxy per node, programming kube-proxy's
 * rules inside that node's namespace, all fed by one watch of Services and EndpointSlices. The
 * supervisor calls `startServiceProxies` once its nodes exist and `stop` when it stops; nothing else
 * in the lab depends on it.
 *
 * A lab node has no default route (its only link is the underlay), so a packet to a ClusterIP that no
 * DNAT rule rewrote would die at the routing lookup before the filter table's REJECT of a Service
 * without endpoints could answer it. A real node routes the service range somewhere (its default
 * route); each lab node gets a route for the service CIDR through its underlay link for the same
 * reason. It is the only kernel state this hook adds besides the proxy's rules.
 */
import {netnsPath, ip} from '../netns/netns.js'
import type {KubeConfig} from '../kube/client.js'
import {ApiProxySource, ServiceProxy, type ServiceProxyStatus} from '../service-proxy/index.js'
import {DEFAULT_SERVICE_CIDR} from './apiserver/services.js'
import {CLUSTER_CIDR, NODE_IFACE} from './names.js'
import type {LabState} from './state.js'

export interface ServiceProxies {
  status(): ServiceProxyStatus[]
  stop(): Promise<void>
}

export async function startServiceProxies(
  state: LabState,
  kc: KubeConfig,
  log: (line: string) => void,
): Promise<ServiceProxies> {
  for (const n of state.nodes) {
    // Best effort: a node whose namespace is gone must not keep the other nodes' agents from starting.
    await ip(['route', 'replace', DEFAULT_SERVICE_CIDR, 'dev', NODE_IFACE], n.netns).catch((e: unknown) =>
      log(`[${n.name} service proxy] route for ${DEFAULT_SERVICE_CIDR}: ${(e as Error).message}`),
    )
  }
  const source = new ApiProxySource(kc, (m) => log(`service proxy informer: ${m}`))
  const proxies = state.nodes.map(
    (n) =>
      new ServiceProxy({
        node: n.name,
        netnsPath: netnsPath(n.netns),
        clusterCidr: state.clusterCIDR ?? CLUSTER_CIDR,
        source,
        log: (m) => log(`[${n.name} service proxy] ${m}`),
      }),
  )
  const off = source.onChange(() => {
    for (const p of proxies) p.changed()
  })
  for (const p of proxies) {
    try {
      p.start()
    } catch (e) {
      log(`[${p.status().node} service proxy] not started: ${(e as Error).message}`)
    }
  }
  source.start()
  return {
    status: () => proxies.map((p) => p.status()),
    stop: async () => {
      off()
      await Promise.all(proxies.map((p) => p.stop()))
      await source.stop()
    },
  }
}
