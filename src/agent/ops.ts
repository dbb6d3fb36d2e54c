/**
 * What the node agent does for a request, with no HTTP in it: the reads of src/kernel, aimed at the
 * node's namespace or at a pod on the node. A pod's namespace is looked up again after a few seconds
 * (pods come and go), and a path that no longer exists is looked up at once.
 */
import {existsSync} from 'node:fs'

import {HttpError} from '../core/http.js'
import {readConntrack} from '../kernel/conntrack.js'
import {evaluateNetfilter, parseIptablesSave, parseNftJson} from '../kernel/netfilter.js'
import type {NetnsScanOptions} from '../kernel/netns-scan.js'
import {findPodNetns, type PodNetns} from '../kernel/pods.js'
import {LocalKernelReader} from '../kernel/reader.js'
import type {
  ConntrackBody,
  ConntrackRead,
  NetfilterAnswer,
  NetfilterBody,
  PodsAnswer,
  SnapshotAnswer,
  SnapshotBody,
  Target,
} from './api.js'

export interface AgentOpsOptions {
  node: string
  /** The node's network namespace, a path nsenter accepts. */
  nodeNetns: string
  /** libcni's cache directory on the node. Default /var/lib/cni. */
  cniCacheDir?: string
  /** Where pod namespaces are looked for (tests narrow it). */
  scan?: NetnsScanOptions
  /** How long a pod lookup is reused. Default 5 s. */
  podCacheMs?: number
}

export class AgentOps {
  readonly nodeReader: LocalKernelReader
  private readonly pods = new Map<string, {pod: PodNetns; at: number}>()

  constructor(readonly opts: AgentOpsOptions) {
    this.nodeReader = new LocalKernelReader(opts.nodeNetns)
  }

  async findPods(ips: readonly string[]): Promise<PodsAnswer> {
    const found = await findPodNetns(ips, {
      nodeNetns: this.opts.nodeNetns,
      cniCacheDir: this.opts.cniCacheDir,
      scan: this.opts.scan,
    })
    const now = Date.now()
    for (const p of found.values()) this.pods.set(p.ip, {pod: p, at: now})
    return {
      node: this.opts.node,
      pods: ips.flatMap((ip) => (found.has(ip) ? [found.get(ip)!] : [])),
      missing: ips.filter((ip) => !found.has(ip)),
    }
  }

  /** The namespace a target names, or a 404 for a pod not on this node. */
  async resolve(target: Target | undefined): Promise<{path: string; pod?: PodNetns}> {
    if (!target?.pod) return {path: this.opts.nodeNetns}
    const ip = target.pod
    const cached = this.pods.get(ip)
    if (cached && Date.now() - cached.at < (this.opts.podCacheMs ?? 5000) && existsSync(cached.pod.path))
      return {path: cached.pod.path, pod: cached.pod}
    const answer = await this.findPods([ip])
    const pod = answer.pods[0]
    if (!pod) throw new HttpError(404, `no pod with IP ${ip} on node ${this.opts.node}`)
    return {path: pod.path, pod}
  }

  async snapshot(body: SnapshotBody): Promise<SnapshotAnswer> {
    const {path, pod} = await this.resolve(body.target)
    const reader = path === this.opts.nodeNetns ? this.nodeReader : new LocalKernelReader(path)
    const snap: SnapshotAnswer = await reader.snapshot({parts: body.parts, routeGets: body.routeGets})
    if (pod) snap.pod = pod
    return snap
  }

  async netfilter(body: NetfilterBody): Promise<NetfilterAnswer> {
    const {path} = await this.resolve(body.target)
    const snap = await new LocalKernelReader(path).snapshot({parts: ['iptables', 'nft']})
    const ipt = snap.iptables ? parseIptablesSave(snap.iptables) : undefined
    const nft = snap.nft ? parseNftJson(snap.nft) : undefined
    return {verdict: evaluateNetfilter(ipt, nft, body.hooks, body.packet), missing: snap.missing}
  }

  async conntrack(body: ConntrackBody): Promise<ConntrackRead> {
    const {path} = await this.resolve(body.target)
    return readConntrack(path, body.flow)
  }
}
