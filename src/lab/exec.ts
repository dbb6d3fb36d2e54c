/** `cnidbg lab exec <pod> -- <cmd…>`: runs a command in a pod's network namespace, on our terminal. */
import {readdirSync} from 'node:fs'

import {EnvironmentError, UsageError} from '../core/errors.js'
import {runAttached} from '../process/attached.js'
import {inNetnsArgv} from '../netns/enter.js'
import {NETNS_DIR, netnsExists} from '../netns/netns.js'
import {requireEnvironment} from '../netns/preflight.js'
import {labApi, readPod} from './k8s.js'
import {requireLab} from './lifecycle.js'
import {DEFAULT_POD_NAMESPACE, podNetns} from './names.js'
import {procAlive, type LabState} from './state.js'

export interface LabExecOptions {
  name?: string
  pod: string
  namespace?: string
  command: string[]
}

export interface LabExecResult {
  pod: string
  netns: string
  exitCode: number
}

/** The pod's namespace name: from the API server (its node), else by looking for it on disk. */
export async function resolvePodNetns(
  state: LabState,
  pod: string,
  namespace = DEFAULT_POD_NAMESPACE,
): Promise<string> {
  if (procAlive(state.apiserver)) {
    const p = await readPod(labApi(state), pod, namespace).catch(() => undefined)
    if (p?.spec?.nodeName) return podNetns(state.name, p.spec.nodeName, namespace, pod)
  }
  let names: string[] = []
  try {
    names = readdirSync(NETNS_DIR)
  } catch {
    // none
  }
  const hit = state.nodes.map((n) => podNetns(state.name, n.name, namespace, pod)).find((n) => names.includes(n))
  if (hit) return hit
  throw new UsageError(`No pod ${namespace}/${pod} in lab ${state.name}.`, {
    code: 'NO_SUCH_POD',
    suggestions: ['List the pods: cnidbg lab status'],
  })
}

/** Runs the command with `ip netns exec` (which also gives it the pod's /sys view); returns its exit code. */
export async function labExec(opts: LabExecOptions): Promise<LabExecResult> {
  if (opts.command.length === 0)
    throw new UsageError('Give the command after --.', {
      code: 'MISSING_COMMAND',
      suggestions: ['cnidbg lab exec pod-a -- ip addr', 'cnidbg lab exec pod-a -- ping -c1 10.244.2.2'],
    })
  requireEnvironment(['ip'])
  const state = requireLab(opts.name)
  const netns = await resolvePodNetns(state, opts.pod, opts.namespace)
  if (!netnsExists(netns))
    throw new UsageError(`Pod ${opts.pod} has no network namespace yet (${netns}).`, {code: 'POD_NOT_READY'})
  const [file, ...args] = inNetnsArgv({name: netns}, opts.command, {sysfs: true})
  const r = await runAttached(file!, args)
  if (r.spawnError) throw new EnvironmentError(`Can't run ip: ${r.spawnError}`, {code: 'MISSING_BINARY'})
  // A command killed by a signal exits 128+n in a shell; do the same.
  const signals: Record<string, number> = {SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGPIPE: 13}
  const exitCode = r.exitCode ?? 128 + (signals[r.signal ?? ''] ?? 1)
  return {pod: opts.pod, netns, exitCode}
}
