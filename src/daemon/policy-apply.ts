/**
 * Writes compiled NetworkPolicy chains into a node's filter table, idempotently: it reads the table
 * (`iptables-save -t filter`), and one `iptables-restore --noflush` rewrites only the chains of ours
 * (CHAIN_PREFIX) whose rules differ, deletes ours that are no longer wanted and adds or removes the
 * FORWARD jump. A chain left alone keeps its counters, which is what trace reads a drop from;
 * nothing outside our chains and the one jump is touched. With no chain wanted (no pod of the node
 * selected) nothing of ours stays, so a node without policies has the FORWARD chain it had.
 *
 * With a netns (a lab node) both programs run inside it; without one, in the daemon's own namespace
 * (a real node, `--host-network`). Never from a string-built shell: the input is iptables-restore
 * lines made by policy-rules.ts.
 */
import {tokenize} from '../kernel/netfilter.js'
import {netnsPath, runInNetns} from '../netns/netns.js'
import {run, type RunResult} from '../process/exec.js'
import type {CompiledPolicies} from './policy-compile.js'
import {CHAIN_PREFIX, commentWord, ruleLine, TOP_CHAIN} from './policy-rules.js'

/** The FORWARD rule that sends traffic to our chains. */
export const JUMP_RULE = ['-m', 'comment', '--comment', commentWord('cnidbg-policy enforcement'), '-j', TOP_CHAIN]

export interface PolicyRestorePlan {
  /** The iptables-restore input, or undefined when the table already holds what is wanted. */
  text: string | undefined
  /** Chains written (new or changed). */
  changed: string[]
  /** Chains of ours deleted. */
  removed: string[]
  /** Chains already as wanted. */
  inSync: number
  jump: 'add' | 'remove' | 'keep' | 'none'
}

/**
 * Our chains' rules and whether FORWARD jumps to the top chain, from `iptables-save -t filter`. Only
 * the `-A` lines of our chains are kept (as text): on a node with many policies the table has
 * thousands of rules, and this runs on every reconcile.
 */
function ourRules(saveText: string): {chains: Map<string, string[]>; hasJump: boolean} {
  const chains = new Map<string, string[]>()
  let hasJump = false
  let inFilter = false
  for (const line of saveText.split('\n')) {
    if (line.startsWith('*')) inFilter = line === '*filter'
    if (!inFilter) continue
    if (line.startsWith(`:${CHAIN_PREFIX}`)) {
      const name = line.slice(1, line.indexOf(' '))
      if (!chains.has(name)) chains.set(name, [])
    } else if (line.startsWith(`-A ${CHAIN_PREFIX}`)) {
      const name = line.slice(3, line.indexOf(' ', 3))
      const list = chains.get(name) ?? []
      list.push(line)
      chains.set(name, list)
    } else if (line.startsWith('-A FORWARD ') && line.endsWith(` -j ${TOP_CHAIN}`)) {
      hasJump = true
    }
  }
  return {chains, hasJump}
}

/** Whether a rule line we render and one iptables-save printed are the same rule. */
function sameRule(want: string, have: string): boolean {
  // iptables-save prints our lines as we write them, except a comment it needs no quotes for.
  return want === have || sameWords(tokenize(want), tokenize(have))
}

/** What to write, given the compiled chains and the table's current `iptables-save -t filter` text. Pure. */
export function planRestore(compiled: CompiledPolicies, saveText: string): PolicyRestorePlan {
  const {chains: actual, hasJump} = ourRules(saveText)
  const wanted = new Set(compiled.chains.map((c) => c.name))
  const changed: string[] = []
  const lines: string[] = []
  let inSync = 0
  for (const chain of compiled.chains) {
    const want = chain.rules.map((r) => ruleLine(chain.name, r))
    const have = actual.get(chain.name)
    const same = have !== undefined && have.length === want.length && want.every((line, i) => sameRule(line, have[i]!))
    if (same) {
      inSync++
      continue
    }
    changed.push(chain.name)
    lines.push(...want)
  }
  const removed = [...actual.keys()].filter((c) => !wanted.has(c))
  const jump = wanted.size > 0 ? (hasJump ? 'keep' : 'add') : hasJump ? 'remove' : 'none'
  if (changed.length === 0 && removed.length === 0 && (jump === 'keep' || jump === 'none')) {
    return {text: undefined, changed, removed, inSync, jump}
  }
  const out = ['*filter']
  // Declaring a chain under --noflush creates it, or empties it when it exists.
  for (const c of [...changed, ...removed]) out.push(`:${c} - [0:0]`)
  out.push(...lines)
  if (jump === 'add') out.push(['-I', 'FORWARD', '1', ...JUMP_RULE].join(' '))
  if (jump === 'remove') out.push(['-D', 'FORWARD', ...JUMP_RULE].join(' '))
  for (const c of removed) out.push(`-X ${c}`)
  out.push('COMMIT', '')
  return {text: out.join('\n'), changed, removed, inSync, jump}
}

function sameWords(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((w, i) => w === b[i])
}

async function runIn(netns: string | undefined, file: string, args: string[], input?: string): Promise<RunResult> {
  const opts = {timeoutMs: 30_000, input}
  return netns ? runInNetns(netnsPath(netns), file, args, opts) : run(file, args, opts)
}

function failure(what: string, r: RunResult): Error {
  return new Error(`${what}: ${r.stderr.trim().slice(0, 500) || r.spawnError || `exit ${r.exitCode}`}`)
}

export async function readFilterTable(netns: string | undefined): Promise<string> {
  const r = await runIn(netns, 'iptables-save', ['-t', 'filter'])
  if (r.exitCode !== 0) throw failure('iptables-save -t filter', r)
  return r.stdout
}

/** Brings the node's filter table to the compiled chains. Throws with iptables' message on failure. */
export async function applyPolicies(netns: string | undefined, compiled: CompiledPolicies): Promise<PolicyRestorePlan> {
  const plan = planRestore(compiled, await readFilterTable(netns))
  if (plan.text === undefined) return plan
  const r = await runIn(netns, 'iptables-restore', ['-w', '5', '--noflush'], plan.text)
  if (r.exitCode !== 0) throw failure('iptables-restore --noflush', r)
  return plan
}

/** Removes every chain of ours and the FORWARD jump (policy enforcement switched off). */
export async function removePolicies(netns: string | undefined): Promise<PolicyRestorePlan> {
  return applyPolicies(netns, {chains: [], policies: [], pods: [], problems: []})
}
