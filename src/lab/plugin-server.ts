/**
 * Each lab node's plugin server (`cnidbg-ref --serve`, src/reference-plugin/serve.ts), as a real node
 * would run it beside its daemon: in the node's network namespace and host view, so its directory is
 * the node's own /run/cni/cnidbg-ref and the kubelet's plugin runs on that node hand it their ADD and
 * DEL. The supervisor starts and stops it with the node's agents; `lab down` stops any that a crashed
 * supervisor left behind (it leads its own process group, so stopping the supervisor's does not).
 */
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import type {RunResult} from '../netns/exec.js'
import {runInHostView} from '../netns/sandbox.js'
import {logTail} from './processes.js'
import {procAlive, type ProcRef, type LabNodeState, stopProc} from './state.js'

const SERVER_DIR = 'cnidbg-ref'

/** The server's own log (its stderr): one line per request it served or turned away, and its lifecycle. */
export function nodePluginServerLog(node: LabNodeState): string {
  return join(node.dir, 'plugin-server.log')
}

/** The node's server as its pid file names it ("<pid> <start time>"), if that process still runs. */
export function nodePluginServer(node: LabNodeState): ProcRef | undefined {
  try {
    const [pid, start] = readFileSync(join(node.runCni, SERVER_DIR, 'pid'), 'utf8')
      .trim()
      .split(' ')
    const ref = {pid: Number(pid), start: start ?? null}
    return ref.pid > 0 && procAlive(ref) ? ref : undefined
  } catch {
    return undefined
  }
}

/** Stops the node's server if one runs (SIGTERM: it finishes the requests in flight). */
export async function stopNodePluginServer(node: LabNodeState): Promise<ProcRef | undefined> {
  const ref = nodePluginServer(node)
  if (ref) await stopProc(ref)
  return ref
}

export class PluginServer {
  private done: Promise<RunResult> | undefined

  constructor(
    private readonly node: LabNodeState,
    private readonly log: (line: string) => void,
  ) {}

  /** Starts the server and resolves once it serves (its pid file is written last), or after 10 s. */
  async start(): Promise<void> {
    if (this.done) return
    const view = {netns: this.node.netns, varLibCni: this.node.varLibCni, runCni: this.node.runCni}
    const log = nodePluginServerLog(this.node)
    // stderr goes to a file rather than into memory: a long-running lab serves without bound. The
    // paths are sh's positional parameters, never part of the script.
    const done = runInHostView(view, 'sh', [
      '-c',
      'exec "$0" "$1" --serve 2>>"$2"',
      process.execPath,
      join(this.node.binDir, 'cnidbg-ref'),
      log,
    ])
    this.done = done
    void done.then((r) => {
      if (this.done === done) this.done = undefined
      const tail = (r.stderr.trim() || logTail(log, 3)).split('\n').slice(-3).join(' | ')
      this.log(`plugin server exited (${r.exitCode ?? r.signal}): ${tail}`)
    })
    for (let i = 0; i < 200 && this.done === done && !nodePluginServer(this.node); i++) {
      await new Promise((r) => setTimeout(r, 50))
    }
    const ref = nodePluginServer(this.node)
    // Without a server the plugin does the work itself: slower pod start-up, nothing broken.
    this.log(ref ? `plugin server serving (pid ${ref.pid})` : 'plugin server did not start; plugins run standalone')
  }

  async stop(): Promise<void> {
    const done = this.done
    this.done = undefined
    await stopNodePluginServer(this.node)
    await done
  }
}
