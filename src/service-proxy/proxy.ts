/**
 * A node's service proxy: reads Services and EndpointSlices (a `ProxySource`), builds kube-proxy's
 * rules (model.ts, rules.ts) and applies them with one `iptables-restore --noflush` inside the
 * node's network namespace. It never acts on the namespace it runs in: the namespace is named by
 * path, every program is started inside it (src/netns), and a path that is this process's own
 * namespace or the root one (pid 1's) is refused before anything runs.
 *
 * Each sync reads the node's tables first (`iptables-save`), so that jumps from the built-in chains
 * are inserted once and chains of deleted Services are removed; a sync with the same Services and
 * endpoints as the last one applied, and nothing to insert or remove, is skipped, except on the periodic resync, which also puts back rules someone
 * deleted. Changes are coalesced: one sync runs at a time, and changes during it cause one more.
 */
import fs from 'node:fs'

import {type KubeConfig, CoreV1Api, DiscoveryV1Api, type V1EndpointSlice, type V1Service} from '../kube/client.js'
import {WatchedCollection} from '../kube/informers.js'
import {runInNetns} from '../netns/netns.js'
import type {RunResult} from '../process/exec.js'
import {buildModel} from './model.js'
import {renderRestore} from './restore.js'
import {buildRules, parseExisting} from './rules.js'

/** Where a proxy reads Services and EndpointSlices (JSON objects as the API serves them). */
export interface ProxySource {
  services(): readonly unknown[]
  slices(): readonly unknown[]
  /** Both lists have been read at least once. */
  readonly synced: boolean
}

export type NetnsExec = (netnsPath: string, file: string, args: string[], input?: string) => Promise<RunResult>

export interface ServiceProxyOptions {
  node: string
  /** The node's network namespace, e.g. /run/netns/cnidbg-lab-x-node1. */
  netnsPath: string
  /** The pod network (kube-proxy's --cluster-cidr): other sources are masqueraded. */
  clusterCidr: string
  source: ProxySource
  log?: (line: string) => void
  /** Full resync period (kube-proxy's --iptables-sync-period). Default 30 s; 0 disables. */
  resyncMs?: number
  /** Runs a program inside the namespace; tests may replace it. */
  exec?: NetnsExec
}

export interface ServiceProxyStatus {
  node: string
  syncs: number
  lastSyncAt?: string
  lastError?: string
  servicePorts: number
  endpoints: number
  skipped: string[]
}

const defaultExec: NetnsExec = (ns, file, args, input) =>
  runInNetns(ns, file, args, {input: input ?? '', timeoutMs: 30_000, maxOutputBytes: 64 * 1024 * 1024})

/** The namespaces a proxy must never program: this process's own, and pid 1's (the root one). */
export const ROOT_NETNS_REFS = {own: '/proc/self/ns/net', root: '/proc/1/ns/net'}

/** statfs(2) f_type of nsfs, the filesystem of namespace files (linux/magic.h NSFS_MAGIC). */
const NSFS_MAGIC = 0x6e736673

/**
 * Throws when `netnsPath` is no namespace at all (a file outside nsfs, which `ip netns` bind-mounts
 * its namespaces from), or is the namespace this process runs in, or that of pid 1 (where /proc lets
 * us see it). `refs` is for tests, which run in the root namespace themselves.
 */
export function refuseRootNetns(netnsPath: string, refs: {own: string; root: string} = ROOT_NETNS_REFS): void {
  if (fs.statfsSync(netnsPath).type !== NSFS_MAGIC)
    throw new Error(`refusing to program ${netnsPath}: it is no namespace`)
  const st = fs.statSync(netnsPath)
  for (const [which, own] of [
    ['our own', refs.own],
    ['the root', refs.root],
  ] as const) {
    let ref: fs.Stats
    try {
      ref = fs.statSync(own)
    } catch {
      // pid 1's namespace may be hidden from us (no ptrace access); our own never is.
      continue
    }
    if (st.dev === ref.dev && st.ino === ref.ino) {
      throw new Error(`refusing to program ${netnsPath}: it is ${which} network namespace`)
    }
  }
}

export class ServiceProxy {
  private running: Promise<void> | undefined
  private dirty = false
  private forced = false
  private stopped = true
  private lastKey = ''
  private resync: NodeJS.Timeout | undefined
  private readonly st: ServiceProxyStatus
  private readonly exec: NetnsExec

  constructor(private readonly opts: ServiceProxyOptions) {
    this.exec = opts.exec ?? defaultExec
    this.st = {node: opts.node, syncs: 0, servicePorts: 0, endpoints: 0, skipped: []}
  }

  start(): void {
    refuseRootNetns(this.opts.netnsPath)
    this.stopped = false
    const every = this.opts.resyncMs ?? 30_000
    if (every > 0) {
      this.resync = setInterval(() => this.changed(true), every)
      this.resync.unref()
    }
    this.changed()
  }

  /** Stops syncing; the rules stay, as kube-proxy leaves them (the node's namespace goes with the lab). */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.resync) clearInterval(this.resync)
    await this.running
  }

  status(): ServiceProxyStatus {
    return {...this.st, skipped: [...this.st.skipped]}
  }

  /** Something changed (or, with `force`, the periodic resync): sync soon, once. */
  changed(force = false): void {
    if (this.stopped) return
    this.forced ||= force
    this.dirty = true
    if (!this.running) this.running = this.loop().finally(() => (this.running = undefined))
  }

  /** Resolves once every change seen so far has been synced (for tests and the lab's status). */
  async idle(): Promise<void> {
    while (this.running) await this.running
  }

  private async loop(): Promise<void> {
    while (this.dirty && !this.stopped) {
      this.dirty = false
      const force = this.forced
      this.forced = false
      try {
        await this.sync(force)
        this.st.lastError = undefined
      } catch (e) {
        this.st.lastError = (e as Error).message
        this.opts.log?.(`sync failed: ${(e as Error).message}`)
      }
    }
  }

  private async sync(force: boolean): Promise<void> {
    const src = this.opts.source
    // Not before both lists are in: an empty list then would remove every Service's rules.
    if (!src.synced) return
    const model = buildModel(src.services(), src.slices())
    const saved = await this.exec(this.opts.netnsPath, 'iptables-save', [])
    if (saved.exitCode !== 0) throw new Error(`iptables-save: ${saved.spawnError ?? saved.stderr.trim()}`)
    const input = renderRestore(buildRules(model, {clusterCidr: this.opts.clusterCidr}, parseExisting(saved.stdout)))
    this.st.servicePorts = model.ports.length
    this.st.endpoints = model.ports.reduce((n, p) => n + p.endpoints.length, 0)
    this.st.skipped = model.skipped
    // Unchanged: the same Services and endpoints as last applied, and no jump to insert or chain to remove.
    const key = JSON.stringify(model.ports)
    if (!force && key === this.lastKey && !/^-[IX] /m.test(input)) return
    const r = await this.exec(this.opts.netnsPath, 'iptables-restore', ['--noflush', '-w', '5'], input)
    if (r.exitCode !== 0) throw new Error(`iptables-restore: ${r.spawnError ?? r.stderr.trim()}`)
    this.lastKey = key
    this.st.syncs++
    this.st.lastSyncAt = new Date().toISOString()
  }
}

/**
 * Services and EndpointSlices from the API, one watch of each shared by every proxy of a process
 * (the lab runs all its nodes' proxies in one). `onChange` is called after any change.
 */
export class ApiProxySource implements ProxySource {
  private readonly svcs: WatchedCollection<V1Service>
  private readonly eps: WatchedCollection<V1EndpointSlice>
  private readonly listeners = new Set<() => void>()

  constructor(kc: KubeConfig, log?: (line: string) => void) {
    const core = kc.makeApiClient(CoreV1Api)
    const discovery = kc.makeApiClient(DiscoveryV1Api)
    const common = {
      onChange: () => {
        for (const l of this.listeners) l()
      },
      log,
      backoffInitialMs: 500,
      backoffMaxMs: 5000,
      resyncMs: 300_000,
    }
    this.svcs = new WatchedCollection<V1Service>(
      kc,
      '/api/v1/services',
      () => core.listServiceForAllNamespaces(),
      common,
    )
    this.eps = new WatchedCollection<V1EndpointSlice>(
      kc,
      '/apis/discovery.k8s.io/v1/endpointslices',
      () => discovery.listEndpointSliceForAllNamespaces(),
      common,
    )
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  start(): void {
    this.svcs.start()
    this.eps.start()
  }

  async stop(): Promise<void> {
    this.listeners.clear()
    await Promise.all([this.svcs.stop(), this.eps.stop()])
  }

  get synced(): boolean {
    return this.svcs.synced && this.eps.synced
  }

  services(): readonly unknown[] {
    return this.svcs.list()
  }

  slices(): readonly unknown[] {
    return this.eps.list()
  }
}
