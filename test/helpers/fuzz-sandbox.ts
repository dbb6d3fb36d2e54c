// The fuzz test's sandbox: a node, a pod and a bystander namespace (cnidbg-fz<id>-…), a process holding
// each of pod and bystander, a canary bridge with one port in the node, the stub IPAM, and the worker
// (fuzz-worker.ts) running in the node namespace with private /var/lib/cni and /run/cni. Everything is
// recorded in a run marker first, so a killed test is reaped by `cnidbg sandbox gc`, and removed at
// teardown and on SIGINT/SIGTERM.
import {spawn, type ChildProcess} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdirSync, mkdtempSync, readFileSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {createInterface} from 'node:readline'

import {build} from 'esbuild'

import {installSignalCleanup, onCleanup} from '../../src/process/cleanup.js'
import {ownMarker, releaseMarker, writeMarker} from '../../src/netns/markers.js'
import {run} from '../../src/process/exec.js'
import {createNetns, ip} from '../../src/netns/netns.js'
import {hostViewArgv} from '../../src/netns/sandbox.js'
import {type FuzzCase, type Observation, type Snap, type World} from './fuzz-world.js'
import {REPO, type Tap} from './ref-plugins.js'

/** Waits for `ok()` by polling state, up to `tries` times 10 ms apart. */
async function poll(ok: () => boolean, tries = 500): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (ok()) return true
    await new Promise((r) => setTimeout(r, 10))
  }
  return ok()
}

const ino = (p: string): number | undefined => {
  try {
    return statSync(p).ino
  } catch {
    return undefined
  }
}

/** A process sleeping in namespace `name`: its pid is what `netns <pid>` payloads aim at. */
async function holder(name: string): Promise<ChildProcess> {
  // `ip netns exec` enters the namespace and execs sleep in the same process (no fork), so the pid
  // stays; bounded, so even a SIGKILLed test leaves nothing running for long.
  const p = spawn('ip', ['netns', 'exec', name, 'sleep', '3600'], {stdio: 'ignore'})
  const want = ino(`/run/netns/${name}`)
  if (!(await poll(() => p.pid !== undefined && ino(`/proc/${p.pid}/ns/net`) === want))) {
    p.kill('SIGKILL')
    throw new Error(`no process in ${name}`)
  }
  return p
}

const WORKER = 'fuzz-worker.mjs'

/**
 * Bundles the worker into `pluginDir`, beside the built plugins: cnidbg-ref runs its sibling
 * cnidbg-ipam in-process (as the plugin bundle does in production), so a case costs no IPAM exec.
 */
export async function buildWorker(pluginDir: string): Promise<void> {
  await build({
    entryPoints: [join(REPO, 'test/helpers/fuzz-worker.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    outfile: join(pluginDir, WORKER),
    logLevel: 'warning',
  })
}

export class FuzzSandbox {
  private pending = new Map<number, {resolve: (o: Observation) => void; reject: (e: Error) => void}>()
  private nextId = 1
  private stderrTail: string[] = []
  base!: Snap

  private constructor(
    readonly world: World,
    private readonly worker: ChildProcess,
  ) {}

  /** Builds the sandbox; `pluginDir` holds the built plugins and the worker (buildWorker). Removed at the end of `t`. */
  static async create(t: Tap, label: string, pluginDir: string): Promise<FuzzSandbox> {
    installSignalCleanup()
    const id = `fz${randomBytes(3).toString('hex')}`
    const tmp = mkdtempSync(join(tmpdir(), `cnidbg-${id}-`))
    const names = {node: `cnidbg-${id}-node`, pod: `cnidbg-${id}-pod`, by: `cnidbg-${id}-by`}
    const marker = ownMarker(id, `fuzz ${label}`)
    marker.netns.push(...Object.values(names))
    marker.dirs.push(tmp)
    writeMarker(marker)
    const procs: ChildProcess[] = []
    const dispose = async () => {
      for (const p of procs) p.kill('SIGKILL')
      await releaseMarker(marker)
    }
    const unregister = onCleanup(`fuzz sandbox ${id}`, dispose)
    t.teardown(async () => {
      unregister()
      await dispose()
    })
    for (const n of Object.values(names)) await createNetns(n)
    // The canary bridge has a port of its own, so "its ports are unchanged" is not trivially true.
    for (const args of [
      // A fixed address: a bridge's default one follows its ports, which payloads change.
      ['link', 'add', 'fzb0', 'address', '02:00:00:00:0f:b0', 'type', 'bridge'],
      ['link', 'add', 'fzd0', 'type', 'veth', 'peer', 'name', 'fzd0p'],
      ['link', 'set', 'fzd0', 'master', 'fzb0', 'up'],
      ['link', 'set', 'fzb0', 'up'],
    ]) {
      await ip(args, names.node)
    }
    await ip(['link', 'add', 'fzd1', 'type', 'bridge'], names.by)
    // No IPv6 on them: a link-local address and its routes would appear whenever the bridge gains a
    // carrier (an injected port), and stay after the port is gone.
    for (const [ns, dev] of [
      [names.node, 'fzb0'],
      [names.node, 'fzd0'],
      [names.node, 'fzd0p'],
      [names.by, 'fzd1'],
    ] as const) {
      await run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${dev}.disable_ipv6=1`])
    }
    const pod = await holder(names.pod)
    procs.push(pod)
    const by = await holder(names.by)
    procs.push(by)
    const stubDir = join(tmp, 'stub')
    mkdirSync(stubDir)
    mkdirSync(join(tmp, 'nosrv'))
    const world: World = {
      bridge: 'fzb0',
      clink: 'fzc0',
      canary: join(tmp, 'canary'),
      podName: names.pod,
      pod: `/run/netns/${names.pod}`,
      podPid: pod.pid!,
      byName: names.by,
      by: `/run/netns/${names.by}`,
      byPid: by.pid!,
      tmp,
      cwd: join(tmp, 'cwd'),
      stubDir,
      front: join(pluginDir, 'cnidbg-ref'),
      plugins: pluginDir,
    }
    // Private /var/lib/cni and /run/cni (as a Sandbox gives a plugin), then the node namespace.
    const lib = join(tmp, 'var-lib-cni')
    const runDir = join(tmp, 'run-cni')
    for (const d of [lib, runDir]) mkdirSync(d, {recursive: true})
    const [cmd, ...args] = hostViewArgv({netns: names.node, varLibCni: lib, runCni: runDir}, process.execPath, [
      join(pluginDir, WORKER),
      JSON.stringify(world),
      process.env.CNIDBG_FUZZ_PROFILE ? 'profile' : '',
    ])
    // A clean environment, through `env -i`: tap's process-info hook rewrites the environment of every
    // process the test starts (whatever env it is given) to load itself into each Node below, here the
    // worker and the shell front's Node. There it adds a loader thread, a hook on every spawn and a
    // record of every process: most of the worker's own CPU. The bundled worker needs none of it.
    const worker = spawn('env', ['-i', `PATH=${process.env.PATH ?? ''}`, cmd!, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    procs.push(worker)
    const sb = new FuzzSandbox(world, worker)
    await sb.listen()
    return sb
  }

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const err = createInterface({input: this.worker.stderr!})
      err.on('line', (l) => {
        this.stderrTail.push(l)
        if (this.stderrTail.length > 20) this.stderrTail.shift()
      })
      // A worker that died is reported by 'exit' below; its closed stdin must not crash the test.
      this.worker.stdin!.on('error', () => {})
      const out = createInterface({input: this.worker.stdout!})
      let ready = false
      out.on('line', (l) => {
        const msg = JSON.parse(l) as {ready?: boolean; base?: Snap; id?: number; obs?: Observation; error?: string}
        if (msg.ready) {
          ready = true
          this.base = msg.base!
          resolve()
          return
        }
        const p = this.pending.get(msg.id!)
        this.pending.delete(msg.id!)
        if (msg.error) p?.reject(new Error(msg.error))
        else p?.resolve(this.unpack(msg.obs!))
      })
      this.worker.on('exit', (code, signal) => {
        const e = new Error(`the fuzz worker exited (${code ?? signal}): ${this.stderrTail.join('\n')}`)
        if (!ready) reject(e)
        for (const p of this.pending.values()) p.reject(e)
        this.pending.clear()
      })
    })
  }

  /**
   * CPU seconds the worker, every process it waited for and its live children (the observers) have
   * used so far (load-independent cost; call it between cases).
   */
  cpuSeconds(): number {
    const ticks = (pid: number | string, fields: [number, number]): number => {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      // utime, stime, cutime, cstime: fields 14-17, in clock ticks (100 per second on Linux).
      return f.slice(...fields).reduce((a, x) => a + Number(x), 0)
    }
    try {
      const pid = this.worker.pid!
      let total = ticks(pid, [11, 15])
      for (const child of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ')) {
        try {
          if (child.trim()) total += ticks(child.trim(), [11, 13])
        } catch {
          // Exited meanwhile: counted in the worker's cutime once waited for.
        }
      }
      return total / 100
    } catch {
      return Number.NaN
    }
  }

  /** The worker sends null for a snapshot that is the case's base, and for a base that is the initial one. */
  private unpack(o: Observation): Observation {
    const base = o.base ?? this.base
    return {
      ...o,
      base,
      afterAdd: o.afterAdd ?? base,
      gc: o.gc && {...o.gc, snap: o.gc.snap ?? base},
      afterDel: o.afterDel ?? base,
    }
  }

  /** Runs one case (ADD then DEL) and returns what the worker saw. */
  run(c: FuzzCase): Promise<Observation> {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      // No case takes anywhere near this: it only keeps a wedged `ip` from hanging the whole test.
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`the fuzz worker did not answer within 90 s: ${this.stderrTail.join('\n')}`))
      }, 90_000)
      this.pending.set(id, {
        resolve: (o) => (clearTimeout(timer), resolve(o)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      })
      this.worker.stdin!.write(JSON.stringify({id, case: c}) + '\n')
    })
  }
}
