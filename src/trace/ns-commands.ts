/**
 * Builds the exact commands a fix hint shows, run from the host against a given namespace: a named
 * namespace gets `ip -n <name>` / `ip netns exec <name>`, an unnamed one `nsenter --net=<path>`.
 */
import {shellWord} from '../core/quote.js'
import {netnsName} from '../kernel/netns-scan.js'
import type {TraceNetns} from './types.js'

/** A TraceNetns for a path, with the name filled in when the path is under /run/netns. */
export function netnsFromPath(path: string, name?: string): TraceNetns {
  return {path, name: name ?? netnsName(path)}
}

/** What to print for a namespace: its name, or its path. */
export function netnsLabel(ns: TraceNetns): string {
  return ns.name ?? ns.path
}

/**
 * A node we only read remotely has the pseudo path `node:<name>`, a pod on it `pod:<node>:<ns>/<name>`:
 * their hints say where to run them.
 */
function remote(ns: TraceNetns): string | undefined {
  if (ns.path.startsWith('node:')) return ns.path.slice(5)
  const pod = /^pod:([^:]+):(.+)$/.exec(ns.path)
  return pod ? `${pod[1]}, in pod ${pod[2]}'s network namespace` : undefined
}

/**
 * The words that run `prefix`'s program in a local namespace: `<prefix> <name>` for a named one, else
 * nsenter on its path. Names and paths are quoted: a hint is pasted into a shell.
 */
function inNs(ns: TraceNetns, prefix: 'ip -n' | 'bridge -n' | 'ip netns exec'): string {
  if (ns.name) return `${prefix} ${shellWord(ns.name)}`
  const program = prefix === 'ip netns exec' ? '' : ` ${prefix.split(' ')[0]}`
  return `nsenter --net=${shellWord(ns.path)}${program}`
}

/** `ip …` in the namespace (device names in `args` are the caller's to quote, with shellWord). */
export function ipCmd(ns: TraceNetns, args: string): string {
  const node = remote(ns)
  if (node) return `on ${node}: ip ${args}`
  return `${inNs(ns, 'ip -n')} ${args}`
}

/** `bridge …` in the namespace. */
export function bridgeCmd(ns: TraceNetns, args: string): string {
  const node = remote(ns)
  if (node) return `on ${node}: bridge ${args}`
  return `${inNs(ns, 'bridge -n')} ${args}`
}

/** Any other program in the namespace (sysctl, iptables, nft, ss). */
export function execCmd(ns: TraceNetns, cmd: string): string {
  const node = remote(ns)
  if (node) return `on ${node}: ${cmd}`
  return `${inNs(ns, 'ip netns exec')} ${cmd}`
}

/** sysctl(8) spells a dot inside a name component as '/': net.ipv4.conf.cnidbg/1.rp_filter. */
export function sysctlName(...components: string[]): string {
  return components.map((c) => c.replace(/\./g, '/')).join('.')
}
