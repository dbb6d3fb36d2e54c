/**
 * deploy/ in the lab: `lab up` applies the manifests a user applies to a real cluster (the Namespace,
 * ServiceAccounts, RBAC and DaemonSets) to its API server, and the supervisor runs the DaemonSets'
 * pods from what the API server stores (node-pods.ts). The lab changes what an overlay would: the
 * daemon's --mode is the lab's (`lab up --mode`), in vpc mode it gets the route-table API's URL, and
 * on a routed underlay in bgp mode the daemon
 * also peers with its node's router (--bgp-peer-gateway: the next hop of the node's underlay route),
 * which must learn the pod CIDRs for pod traffic to cross the L3 hop.
 */
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {KubeConfig, KubernetesObjectApi, loadAllYaml, type KubernetesObject, type V1DaemonSet} from '../kube/client.js'
import type {LabMode, LabTopologyKind} from './names.js'

/** The objects of every .yaml file in `dir`, files in name order (as `kubectl apply -f dir/`). */
export function readManifests(dir: string): KubernetesObject[] {
  const files = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
  return files.flatMap((f) =>
    (loadAllYaml(readFileSync(join(dir, f), 'utf8')) as Array<KubernetesObject | null>).filter(
      (o): o is KubernetesObject => Boolean(o?.kind),
    ),
  )
}

/**
 * The lab's overlay: a `--mode=` argument of a DaemonSet container becomes the lab's mode; in vpc
 * mode `--vpc-api` (the route-table API, a cloud's endpoint) follows it, and in bgp mode on a routed
 * underlay `--bgp-peer-gateway`.
 */
export function labOverlay(
  objects: readonly KubernetesObject[],
  mode: LabMode,
  extra: {vpcApi?: string; topology?: LabTopologyKind} = {},
): KubernetesObject[] {
  const peerGateway = mode === 'bgp' && extra.topology === 'routed'
  const rewrite = (args: string[] | undefined) =>
    args?.flatMap((a) =>
      a.startsWith('--mode=')
        ? [
            `--mode=${mode}`,
            ...(extra.vpcApi ? [`--vpc-api=${extra.vpcApi}`] : []),
            ...(peerGateway ? ['--bgp-peer-gateway'] : []),
          ]
        : [a],
    )
  return objects.map((o) => {
    if (o.kind !== 'DaemonSet') return o
    const ds = JSON.parse(JSON.stringify(o)) as V1DaemonSet
    for (const c of ds.spec?.template?.spec?.containers ?? []) {
      c.command = rewrite(c.command)
      c.args = rewrite(c.args)
    }
    return ds
  })
}

/**
 * Creates every object through the API (its discovery finds each kind's path); returns "Kind/name"s
 * in the manifests' order. Namespaces first, then the rest side by side: nothing else depends on
 * another object existing first (a binding may name a role not made yet, as in Kubernetes).
 */
export async function applyManifests(kubeconfig: string, objects: readonly KubernetesObject[]): Promise<string[]> {
  const kc = new KubeConfig()
  kc.loadFromFile(kubeconfig)
  const api = KubernetesObjectApi.makeApiClient(kc)
  const isNs = (o: KubernetesObject) => o.kind === 'Namespace'
  for (const o of objects.filter(isNs)) await api.create(o)
  await Promise.all(objects.filter((o) => !isNs(o)).map((o) => api.create(o)))
  return objects.map((o) => `${o.kind}/${o.metadata?.name ?? ''}`)
}
