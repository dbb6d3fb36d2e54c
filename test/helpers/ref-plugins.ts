// Test helpers for the reference plugins: bundle them from the sources (each test file gets a copy in a
// private temp dir, so a concurrent `npm run build` wiping dist/ can't pull them away), and run them from
// a Sandbox's host netns exactly as a runtime would: CNI_* env only, the config on stdin.
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {which} from '../../src/process/lite-exec.js'
import {ipJson} from '../../src/netns/netns.js'
import {Sandbox} from '../../src/netns/sandbox.js'
import {copyPlugins} from './bundle-cache.js'

export const REPO = join(import.meta.dirname, '..', '..')
export const VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const

export interface Tap {
  teardown(fn: () => unknown): void
}

/**
 * cnidbg-ref and cnidbg-ipam (and the spy) as scripts/bundle-plugins.mjs builds them, copied into a temp
 * dir removed at teardown; returns the dir. The build is shared between test files (bundle-cache.ts).
 */
export async function bundle(t: Tap): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'cnidbg-plugins-'))
  t.teardown(() => rmSync(dir, {recursive: true, force: true}))
  await copyPlugins(dir)
  return dir
}

/**
 * A temp dir (removed at teardown) holding an `ip` to put first on a plugin's PATH, to watch or bend
 * what the plugin's `ip` does: `script` makes its text from the path of the real one (and the dir, for
 * files of its own).
 */
export function ipOnPath(t: Tap, script: (real: string, dir: string) => string): string {
  const dir = mkdtempSync(join(tmpdir(), 'cnidbg-ipshim-'))
  t.teardown(() => rmSync(dir, {recursive: true, force: true}))
  writeFileSync(join(dir, 'ip'), script(which('ip'), dir), {mode: 0o755})
  return dir
}

export interface Invocation {
  exitCode: number | null
  stdout: string
  stderr: string
  /** stdout parsed, when it is JSON. */
  json?: any
}

export interface InvokeOptions {
  containerID?: string
  netns?: string
  ifname?: string
  cniArgs?: string
  path?: string
  env?: Record<string, string>
  /** The plugin's working directory (a relative CNI_NETNS is read from it). */
  cwd?: string
}

/** A sandboxed node with the bundled plugins: `invoke` runs one verb like a runtime does. */
export class Node {
  constructor(
    readonly sb: Sandbox,
    readonly pluginDir: string,
  ) {}

  static async create(t: Tap, pluginDir: string): Promise<Node> {
    const sb = await Sandbox.create({label: 'test-ref'})
    t.teardown(() => sb.dispose())
    return new Node(sb, pluginDir)
  }

  async pod(role: string): Promise<{name: string; path: string}> {
    return this.sb.addNetns(role)
  }

  /** The sandbox's private stand-in for /var/lib/cni/networks/<network>. */
  storeDir(network: string): string {
    return join(this.sb.hostPath('/var/lib/cni'), 'networks', network)
  }

  async invoke(plugin: string, verb: string, conf: unknown, o: InvokeOptions = {}): Promise<Invocation> {
    const env: Record<string, string> = {PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: verb}
    if (o.containerID !== undefined) env.CNI_CONTAINERID = o.containerID
    if (o.netns !== undefined) env.CNI_NETNS = o.netns
    if (o.ifname !== undefined) env.CNI_IFNAME = o.ifname
    if (o.cniArgs !== undefined) env.CNI_ARGS = o.cniArgs
    env.CNI_PATH = o.path ?? this.pluginDir
    Object.assign(env, o.env)
    const r = await this.sb.run(join(this.pluginDir, plugin), [], {
      env,
      extendEnv: false,
      input: typeof conf === 'string' ? conf : JSON.stringify(conf),
      timeoutMs: 120_000,
      cwd: o.cwd,
    })
    let json: any
    try {
      json = r.stdout.trim() ? JSON.parse(r.stdout) : undefined
    } catch {
      json = undefined
    }
    return {exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, json}
  }

  async hostJson<T = any>(args: string[]): Promise<T> {
    return ipJson<T>(args, this.sb.host.name)
  }
}

const subnets = new Map<string, string>()

/**
 * A cnidbg-ref network config at `version`. Each network name gets its own /24 (10.244.N.0/24), so
 * attachments of different test networks on one sandbox node never share addresses or node routes.
 */
export function refConf(version: string, ipam: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  const name = (extra.name as string | undefined) ?? 'refnet'
  if (!subnets.has(name)) subnets.set(name, `10.244.${subnets.size + 1}.0/24`)
  return {
    cniVersion: version,
    name,
    type: 'cnidbg-ref',
    mtu: 1400,
    ipam: {type: 'cnidbg-ipam', ranges: [[{subnet: subnets.get(name)}]], ...ipam},
    ...extra,
  }
}

export async function podJson<T = any>(netns: string, args: string[]): Promise<T> {
  return ipJson<T>(args, netns)
}
