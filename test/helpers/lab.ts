// Test helpers for the lab: bundle the lab's background programs (API server, supervisor) and the
// reference plugins from the sources as they are (a concurrent `npm run build` wiping dist/ can't pull
// them away, a test never runs a stale build, and no TypeScript loader is needed in the background
// processes), plus small helpers to run things inside lab namespaces.
import {join} from 'node:path'

import {build} from 'esbuild'

import {run, type RunResult} from '../../src/process/exec.js'
import {netnsPath, runInNetns} from '../../src/netns/netns.js'
import {diffLines, snapshotNetns} from '../../src/netns/snapshot.js'
import {labDir, nodeNetns} from '../../src/lab/names.js'
import {libexecIn, type Libexec} from '../../src/lab/processes.js'
import {type LabNodeState, type LabState, procRef, type ProcRef} from '../../src/lab/state.js'
import {labUp, type LabUpOptions, type LabUpResult} from '../../src/lab/up.js'
import {cachedBundle, copyPlugins} from './bundle-cache.js'

export const REPO = join(import.meta.dirname, '..', '..')

export interface Tap {
  teardown(fn: () => unknown): void
}

/**
 * `labUp` as a test file runs it: held by this process (LabState.heldBy), so that a test that dies before
 * its teardown leaves a lab the next run reaps, not one running on; and with time to start on a loaded
 * machine.
 */
export function testLabUp(opts: Omit<LabUpOptions, 'heldBy' | 'timeoutSeconds'>): Promise<LabUpResult> {
  return labUp({...opts, timeoutSeconds: 600, heldBy: process.pid})
}

/** A lab name no other test file uses: t + 4 random hex digits. */
export function testLabName(): string {
  return `t${Math.random().toString(16).slice(2, 6)}`
}

/**
 * Bundles TypeScript entry points (repository paths, with their src/ imports) into `dir` as plain
 * `<name>.mjs` files node can run with no TypeScript loader.
 */
export async function bundleTo(dir: string, entries: Record<string, string>): Promise<void> {
  await build({
    entryPoints: Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, join(REPO, v)])),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    outdir: dir,
    outExtension: {'.js': '.mjs'},
    logLevel: 'warning',
    // Bundled CommonJS dependencies (the Kubernetes client's) call require().
    banner: {
      js: "import {createRequire as __cnidbgRequire} from 'node:module'; const require = __cnidbgRequire(import.meta.url);",
    },
  })
}

/**
 * The directory holding apiserver-main.mjs, supervisor-main.mjs, forwarder-main.mjs, plugins/ and
 * `more` (bundleTo's form), bundled from the sources as they are now and shared by every test file
 * (and run) with the same sources (bundle-cache.ts). Nothing writes into it: the lab copies the plugins
 * out of it.
 */
async function cachedLabLibexec(more: Record<string, string>): Promise<string> {
  const entries = {
    'apiserver-main': 'src/lab/apiserver/main.ts',
    'supervisor-main': 'src/lab/supervisor-main.ts',
    'forwarder-main': 'src/lab/forwarder-main.ts',
    ...more,
  }
  return cachedBundle({lab: entries}, (dir) =>
    Promise.all([copyPlugins(join(dir, 'plugins')), bundleTo(dir, entries)]).then(() => undefined),
  )
}

/**
 * The lab's programs, bundled from the sources (cachedLabLibexec), with `more` entry points (bundleTo's
 * form) beside them.
 */
export async function bundleLabLibexec(more: Record<string, string> = {}): Promise<Libexec> {
  // deploy/'s pods run the CLI itself (node-pods.ts), so that comes from the build (dist/).
  return libexecIn(await cachedLabLibexec(more))
}

/** Runs a program in a named namespace (nsenter), bounded in time. */
export function inNetns(netns: string, file: string, args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return runInNetns(netnsPath(netns), file, args, {timeoutMs})
}

/** One ping from a namespace; true when a reply came back. */
export async function pingOk(netns: string, ip: string, extra: string[] = []): Promise<boolean> {
  const r = await inNetns(netns, 'ping', ['-c', '1', '-W', '2', ...extra, ip])
  return r.exitCode === 0
}

/**
 * One ping that gets no reply within a second: for a path a fault must have broken. A reply between
 * namespaces of this machine takes well under a millisecond, and a dead path waits out the whole
 * wait, so it is shorter than the one pingOk gives a path that must work.
 */
export async function pingFails(netns: string, ip: string, extra: string[] = []): Promise<boolean> {
  const r = await inNetns(netns, 'ping', ['-c', '1', '-W', '1', ...extra, ip])
  return r.exitCode !== 0
}

/** Pings until one reply comes back (ARP and a fresh route may eat the first), up to `tries`. */
export async function pingEventually(netns: string, ip: string, tries = 5, extra: string[] = []): Promise<boolean> {
  for (let i = 0; i < tries; i++) if (await pingOk(netns, ip, extra)) return true
  return false
}

/**
 * TCP: a one-shot nc listener in `server` on `listenPort`, a client in `client` sending it one line to
 * `serverIp:port` (a Service's ClusterIP and port, DNATed to the listener's, or the pod's own).
 */
export async function tcpOk(
  client: string,
  server: string,
  serverIp: string,
  port = 7000 + Math.floor(Math.random() * 1000),
  listenPort = port,
): Promise<boolean> {
  // The client sends and the listener prints what it read until the client's FIN: the line comes before
  // the FIN in one stream, so a working path always delivers it. (The other way round, a listener that
  // answers could see the client's FIN first and quit before writing, which failed working paths.)
  let listening = true
  const listener = runInNetns(netnsPath(server), 'nc', ['-l', String(listenPort)], {
    input: '',
    timeoutMs: 60_000,
  }).finally(() => (listening = false))
  // The listener binds at some point after it is started (later on a loaded machine): retry the
  // connect until one is taken, or a deadline that only a failure ever reaches.
  const deadline = Date.now() + 45_000
  while (listening && Date.now() < deadline) {
    const r = await run('ip', ['netns', 'exec', client, 'nc', '-N', '-w', '5', serverIp, String(port)], {
      input: 'cnidbg-hello\n',
      timeoutMs: 15_000,
    })
    if (r.exitCode === 0) break
    await new Promise((res) => setTimeout(res, 200))
  }
  // A listener that never got a connection ends at its own timeout.
  const served = await listener
  const ok = served.stdout.includes('cnidbg-hello')
  if (!ok)
    console.error(
      `tcpOk ${client} → ${serverIp}:${port}: listener exit ${served.exitCode ?? served.signal}, read ${JSON.stringify(served.stdout)}: ${served.stderr.trim()}`,
    )
  return ok
}

/** The sysctls lab faults set (ip-forward-off, rp-filter-strict), under /proc/sys/net/ipv4. */
const FAULT_SYSCTLS = ['ip_forward', 'conf/all/rp_filter', 'conf/default/rp_filter']
const EXTRA = '@@cnidbg-lab-extra@@'
/** After snapshotNetns's sections: those sysctls, permanent FDB entries (the VTEP's) and permanent neighbours. */
const EXTRA_SCRIPT = [
  `echo ${EXTRA}`,
  `for k in ${FAULT_SYSCTLS.join(' ')}; do echo "sysctl $k $(cat /proc/sys/net/ipv4/$k)"; done`,
  "bridge fdb show 2>/dev/null | grep permanent | sed 's/^/fdb /'",
  "ip neigh show nud permanent | sed 's/^/neigh /'",
].join('; ')

/**
 * What lab faults change in each of `namespaces`, as sorted lines: snapshotNetns's links, addresses,
 * routes, rules, iptables, nft and tc, plus the sysctls faults set, permanent FDB entries and
 * permanent neighbours. One nsenter and one shell per namespace.
 */
export async function labKernelState(namespaces: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>()
  for (const ns of namespaces) {
    let extra = ''
    const snap = await snapshotNetns(async (file, args) => {
      const r = await runInNetns(netnsPath(ns), file, [...args.slice(0, -1), `${args.at(-1)}; ${EXTRA_SCRIPT}`], {
        timeoutMs: 30_000,
      })
      const [head = '', tail = ''] = r.stdout.split(`${EXTRA}\n`)
      extra = tail
      return {stdout: head, exitCode: r.exitCode}
    })
    out.set(ns, [...snap.lines, ...extra.split('\n').filter(Boolean)].sort())
  }
  return out
}

/** What differs between two labKernelState snapshots, per namespace, as diffLines says it ('+ ', '- '). */
export function kernelStateDiff(before: Map<string, string[]>, after: Map<string, string[]>): Record<string, string[]> {
  const diff: Record<string, string[]> = {}
  for (const [ns, was] of before) {
    const lines = diffLines(was, after.get(ns) ?? [])
    if (lines.length > 0) diff[ns] = lines
  }
  return diff
}

/** Node `node1` of a lab a test stands up by hand, its files under `dir`. */
export function standInNode(lab: string, dir: string): LabNodeState {
  return {
    name: 'node1',
    index: 1,
    nodeIP: '198.18.0.2',
    podCIDR: '10.244.1.0/24',
    netns: nodeNetns(lab, 'node1'),
    dir,
    subnetFile: join(dir, 'subnet.env'),
    binDir: join(dir, 'bin'),
    confDir: join(dir, 'net.d'),
    confFile: join(dir, 'net.d', '10-cnidbg.conflist'),
    varLibCni: join(dir, 'var-lib-cni'),
    runCni: join(dir, 'run-cni'),
    cniPath: [join(dir, 'bin')],
    underlayPort: 'veth-node1',
  }
}

/**
 * The state of a lab a test stands up by hand, without `lab up`: held by this process, so a lab reaper
 * in another test file (any lab up or down) leaves its namespaces alone. Its API server and supervisor
 * are this process unless given (a `sleep` each, for a test that needs them alive apart from it).
 */
export function standInLabState(
  name: string,
  opts: {nodes?: LabNodeState[]; apiserver?: ProcRef; supervisor?: ProcRef; podsPerNode?: number} = {},
): LabState {
  const dir = labDir(name)
  const self = procRef(process.pid)
  return {
    schemaVersion: 1,
    name,
    mode: 'vxlan',
    dir,
    createdAt: new Date().toISOString(),
    phase: 'running',
    owner: null,
    heldBy: self,
    kubeconfig: join(dir, 'kubeconfig'),
    clusterCIDR: '10.244.0.0/16',
    underlay: {netns: `cnidbg-lab-${name}-ul`, bridge: 'br0', cidr: '198.18.0.0/24'},
    apiserver: {...(opts.apiserver ?? self), log: join(dir, 'apiserver.log'), stateFile: join(dir, 'apiserver.json')},
    supervisor: {...(opts.supervisor ?? self), log: join(dir, 'supervisor.log'), socket: join(dir, 'control.sock')},
    nodes: opts.nodes ?? [],
    podsPerNode: opts.podsPerNode ?? 1,
    faults: [],
  }
}
