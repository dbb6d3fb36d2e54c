/**
 * A list+watch cache of one resource that survives the API server going away: @kubernetes/client-node's
 * ListWatch (makeInformer) does list → watch → re-watch, and relists on 410 Gone, but after any other
 * error (connection refused, 5xx) it just stops and calls `error`. This wrapper then starts a fresh
 * informer with exponential backoff, and keeps serving the last good cache until the fresh one has
 * listed: an API outage must not look like "every node was deleted" (the daemon would tear down
 * every route). A fresh list is also taken every `resyncMs`, like a reflector relist, so a watch that
 * silently died can't leave the cache stale forever.
 *
 * The daemon is level-triggered (it recomputes everything from `list()`), so swapping caches needs no
 * synthetic delete events.
 */
import {
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  makeInformer,
  type Informer,
  type ObjectCache,
} from './client.js'

import {redact} from './redact.js'

export interface InformerStatus {
  resource: string
  /** A list has succeeded at least once (the cache is usable). */
  synced: boolean
  /** The serving informer's list+watch is currently healthy. */
  connected: boolean
  objects: number
  lastSyncAt?: string
  lastError?: string
  lastErrorAt?: string
  /** Fresh informers started after errors. */
  restarts: number
  /** Full relists (initial, resync, after errors, 410 Gone). */
  lists: number
  /** Watch events received. */
  events: number
}

export interface WatchedCollectionOptions {
  /** Called after any change to the served cache (event, relist, swap). */
  onChange: () => void
  log?: (msg: string) => void
  backoffInitialMs?: number
  backoffMaxMs?: number
  /** Full relist period; 0 disables. */
  resyncMs?: number
  /** A list+watch start that takes longer than this counts as failed (a hung API server). */
  startTimeoutMs?: number
  /**
   * Server-side watch timeout. Like client-go's reflector (a random 5–10 min), so a connection that
   * died without a FIN is replaced; the informer re-watches from its resourceVersion. 0 = none.
   */
  watchTimeoutSeconds?: number
}

type Inf<T extends KubernetesObject> = Informer<T> & ObjectCache<T>

interface Entry<T extends KubernetesObject> {
  inf: Inf<T>
  retired: boolean
  failed: boolean
}

function describeError(err: unknown): string {
  if (!err) return 'watch closed'
  const e = err as {statusCode?: number; code?: string | number; message?: string; body?: unknown}
  const parts = [e.statusCode ? `HTTP ${e.statusCode}` : undefined, e.code ? String(e.code) : undefined, e.message]
  return redact(parts.filter(Boolean).join(' ') || String(err)).slice(0, 500)
}

export class WatchedCollection<T extends KubernetesObject> {
  private serving: Entry<T> | undefined
  private pending: Entry<T> | undefined
  private stopped = true
  private failures = 0
  private retryTimer: NodeJS.Timeout | undefined
  private resyncTimer: NodeJS.Timeout | undefined
  private readonly st: InformerStatus

  constructor(
    private readonly kc: KubeConfig,
    /** API path (`/api/v1/nodes`); query parameters are kept on the watch URL. */
    private readonly path: string,
    private readonly listFn: () => Promise<KubernetesListObject<T>>,
    private readonly opts: WatchedCollectionOptions,
  ) {
    this.st = {resource: path, synced: false, connected: false, objects: 0, restarts: 0, lists: 0, events: 0}
  }

  start(): void {
    if (!this.stopped) return
    this.stopped = false
    this.spawn()
    const resync = this.opts.resyncMs ?? 0
    if (resync > 0) {
      this.resyncTimer = setInterval(() => {
        if (!this.pending && !this.retryTimer) this.spawn()
      }, resync)
      this.resyncTimer.unref()
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.retryTimer) clearTimeout(this.retryTimer)
    if (this.resyncTimer) clearInterval(this.resyncTimer)
    this.retryTimer = this.resyncTimer = undefined
    await Promise.all([this.retire(this.pending), this.retire(this.serving)])
    this.pending = undefined
    this.st.connected = false
  }

  list(): readonly T[] {
    return this.serving?.inf.list() ?? []
  }

  get(name: string, namespace?: string): T | undefined {
    return this.serving?.inf.get(name, namespace)
  }

  status(): InformerStatus {
    return {...this.st, objects: this.list().length}
  }

  get synced(): boolean {
    return this.st.synced
  }

  private async retire(e: Entry<T> | undefined): Promise<void> {
    if (!e || e.retired) return
    e.retired = true
    try {
      await e.inf.stop()
    } catch {
      // Aborting a watch that already failed is fine.
    }
  }

  private spawn(): void {
    if (this.stopped) return
    const entry: Entry<T> = {inf: undefined as unknown as Inf<T>, retired: false, failed: false}
    const listFn = async () => {
      const list = await this.listFn()
      if (!entry.retired) this.st.lists++
      return list
    }
    const timeout = this.opts.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300)
    // ListWatch keeps query parameters already on the path (the URL is server + path).
    const watchPath =
      timeout > 0 ? `${this.path}${this.path.includes('?') ? '&' : '?'}timeoutSeconds=${timeout}` : this.path
    entry.inf = makeInformer<T>(this.kc, watchPath, listFn)
    const changed = () => {
      if (entry.retired || entry !== this.serving) return
      this.st.events++
      this.opts.onChange()
    }
    entry.inf.on('add', changed)
    entry.inf.on('update', changed)
    entry.inf.on('delete', changed)
    entry.inf.on('error', (err: unknown) => this.onError(entry, err))
    this.pending = entry
    const watchdog = setTimeout(() => {
      if (entry === this.pending) this.onError(entry, new Error('list+watch did not start in time'))
    }, this.opts.startTimeoutMs ?? 30_000)
    watchdog.unref()
    entry.inf.start().then(
      () => {
        clearTimeout(watchdog)
        this.onStarted(entry)
      },
      (err: unknown) => {
        clearTimeout(watchdog)
        this.onError(entry, err)
      },
    )
  }

  private onStarted(entry: Entry<T>): void {
    if (entry.retired || entry.failed || entry !== this.pending) return
    const old = this.serving
    this.serving = entry
    this.pending = undefined
    this.failures = 0
    this.st.synced = true
    this.st.connected = true
    this.st.lastSyncAt = new Date().toISOString()
    void this.retire(old)
    this.opts.onChange()
  }

  private onError(entry: Entry<T>, err: unknown): void {
    // Errors from informers we stopped ourselves (their aborted watch) mean nothing.
    if (entry.retired || this.stopped) return
    entry.failed = true
    const msg = describeError(err)
    this.st.lastError = msg
    this.st.lastErrorAt = new Date().toISOString()
    if (entry === this.serving) this.st.connected = false
    if (entry === this.pending) this.pending = undefined
    // A failed serving informer keeps serving its (stale) cache until a fresh one has listed.
    if (entry !== this.serving) void this.retire(entry)
    if (this.retryTimer || this.pending) return
    const base = this.opts.backoffInitialMs ?? 1000
    const max = this.opts.backoffMaxMs ?? 30_000
    const delay = Math.min(max, base * 2 ** this.failures) * (0.8 + Math.random() * 0.4)
    this.failures++
    this.opts.log?.(`${this.path}: ${msg}; retrying in ${Math.round(delay)} ms`)
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      this.st.restarts++
      this.spawn()
    }, delay)
    this.retryTimer.unref()
  }
}
