/**
 * Runs CNI plugins the way a runtime does, inside a throwaway Sandbox: the plugin in the sandbox's
 * host netns (private /var/lib/cni and /run/cni), CNI_NETNS a container netns of the sandbox, a
 * minimal environment (CNI_* and PATH). For the fixture self-tests and the spy tests.
 */
import {readdirSync, readFileSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {Test} from 'tap'

import {installSignalCleanup} from '../../src/process/cleanup.js'
import type {RunResult} from '../../src/process/exec.js'
import {ip, ipJson, type Netns} from '../../src/netns/netns.js'
import {Sandbox} from '../../src/netns/sandbox.js'

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
export const FIXTURE_BIN = join(REPO, 'fixtures/plugins/bin')
export const FIXTURE_CONF = join(REPO, 'fixtures/conf')
export const UPSTREAM_DIR = process.env.CNIDBG_UPSTREAM_DIR ?? '/usr/lib/cni'
export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

export type Json = Record<string, any>

export interface CallOptions {
  verb: string
  /** The request config; an object is serialised, a string is sent as is. */
  conf?: Json | string
  cid?: string
  /** null leaves CNI_IFNAME unset. Default eth0. */
  ifname?: string | null
  /** A netns path; null leaves CNI_NETNS unset. Default: the harness's container c0. */
  netns?: string | null
  args?: string
  cniPath?: string
  env?: Record<string, string>
  timeoutMs?: number
  maxOutputBytes?: number
}

export interface CniCall extends RunResult {
  /** stdout parsed as one JSON value, or undefined. */
  json: Json | undefined
}

export interface Addr {
  local: string
  prefixlen: number
  family: string
}

export function parseJson(text: string): Json | undefined {
  try {
    return JSON.parse(text) as Json
  } catch {
    return undefined
  }
}

/** A fixture's conflist: fixtures/conf/<name>.conflist. */
export function fixtureConflist(name: string): Json {
  return JSON.parse(readFileSync(join(FIXTURE_CONF, `${name}.conflist`), 'utf8')) as Json
}

/** The request config for plugin `index` of a conflist, as libcni derives it (cniVersion, name injected). */
export function requestConf(conflist: Json, index = -1, over: Json = {}): Json {
  const plugins = conflist.plugins as Json[]
  const p = plugins[index < 0 ? plugins.length + index : index]
  return {...structuredClone(p), cniVersion: conflist.cniVersion, name: conflist.name, ...over}
}

export class CniHarness {
  readonly containers = new Map<string, Netns>()

  private constructor(readonly sb: Sandbox) {}

  /** A sandbox removed at the end of `t` (and on SIGINT through the sandbox's own cleanup hook). */
  static async create(t: Test): Promise<CniHarness> {
    // A test killed at tap's timeout (SIGTERM) still removes its sandboxes.
    installSignalCleanup()
    const sb = await Sandbox.create({label: 'fixture-selftest'})
    t.teardown(() => sb.dispose())
    return new CniHarness(sb)
  }

  /** A container netns (created on first use). */
  async container(role = 'c0'): Promise<Netns> {
    let ns = this.containers.get(role)
    if (!ns) {
      ns = await this.sb.addNetns(role)
      this.containers.set(role, ns)
    }
    return ns
  }

  async removeContainer(role: string): Promise<void> {
    const ns = this.containers.get(role)
    if (!ns) return
    await this.sb.removeNetns(ns.name)
    this.containers.delete(role)
  }

  /** Runs `plugin` (a path) with one CNI verb. */
  async call(plugin: string, o: CallOptions): Promise<CniCall> {
    const env: Record<string, string> = {
      PATH: SYSTEM_PATH,
      CNI_COMMAND: o.verb,
      CNI_PATH: o.cniPath ?? `${FIXTURE_BIN}:${UPSTREAM_DIR}`,
      ...(o.env ?? {}),
    }
    if (o.verb !== 'VERSION' && o.verb !== 'GC' && o.verb !== 'STATUS') {
      env.CNI_CONTAINERID = o.cid ?? 'ctr-0'
      if (o.ifname !== null) env.CNI_IFNAME = o.ifname ?? 'eth0'
      if (o.netns !== null) env.CNI_NETNS = o.netns ?? (await this.container()).path
    }
    if (o.args !== undefined) env.CNI_ARGS = o.args
    const input = o.conf === undefined ? '' : typeof o.conf === 'string' ? o.conf : JSON.stringify(o.conf)
    const r = await this.sb.run(plugin, [], {
      env,
      extendEnv: false,
      input,
      timeoutMs: o.timeoutMs ?? 60_000,
      maxOutputBytes: o.maxOutputBytes,
    })
    return {...r, json: parseJson(r.stdout)}
  }

  /** Links of a container netns (or of the sandbox host when ns is undefined). */
  async links(ns?: Netns): Promise<Json[]> {
    return ipJson<Json[]>(['link', 'show'], ns?.name ?? this.sb.host.name)
  }

  async link(ns: Netns | undefined, name: string): Promise<Json | undefined> {
    return (await this.links(ns)).find((l) => l.ifname === name)
  }

  async addrs(ns: Netns | undefined, dev?: string): Promise<Addr[]> {
    const all = await ipJson<Json[]>(['addr', 'show', ...(dev ? ['dev', dev] : [])], ns?.name ?? this.sb.host.name)
    return all.flatMap((l) => (l.addr_info ?? []) as Addr[])
  }

  async routes(ns: Netns | undefined): Promise<Json[]> {
    return ipJson<Json[]>(['route', 'show'], ns?.name ?? this.sb.host.name)
  }

  /** Runs `ip` in a container netns (e.g. to tamper with what a plugin set up). */
  async ip(ns: Netns, args: string[]): Promise<void> {
    await ip(args, ns.name)
  }

  /** host-local reservation files (<ip> → "<cid>\r\n<ifname>") in the sandbox's private /var/lib/cni. */
  reservations(dataDir: string, network: string): Array<{ip: string; cid: string; ifname: string}> {
    const rel = dataDir.replace(/^\/var\/lib\/cni\/?/, '')
    const dir = join(this.sb.hostPath('/var/lib/cni'), rel, network)
    let files: string[] = []
    try {
      files = readdirSync(dir)
    } catch {
      return []
    }
    return files
      .filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip'))
      .map((f) => {
        const [cid = '', ifname = ''] = readFileSync(join(dir, f), 'utf8').split(/\r?\n/)
        return {ip: f, cid: cid.trim(), ifname: ifname.trim()}
      })
  }

  /** A program's stdout run in the sandbox host (iptables-save and the like). */
  async hostOutput(file: string, args: string[]): Promise<string> {
    const r = await this.sb.run(file, args, {env: {PATH: SYSTEM_PATH}, extendEnv: false, timeoutMs: 30_000})
    return r.stdout
  }
}
