/**
 * bgp mode: why a pod route is missing. A route to another node's pod CIDR that bird should have
 * installed is missing either because the BGP session that brings it is not Established
 * (`bgp-peer-down`), or because the session is up and imported nothing: the peer does not announce
 * the CIDR (`route-not-advertised`). A session that imported routes leaves `no-route`, said so. The session state comes from the node daemon's /diag (`bgp.sessions`,
 * read live from bird's control socket, as Calico's node status reads `show protocols`), or, for a
 * node this machine can't enter, from the node's agent, which asks that daemon (GET /v1/bgp).
 */
import type {BgpView, NodeAccess} from '../kernel/node-access.js'
import {runInNetns} from '../netns/netns.js'
import {execCmd} from './ns-commands.js'
import type {TraceHop, TraceNode} from './types.js'
import {parseJson} from '../core/json.js'

/** What /diag's `bgp` holds (src/daemon/backends/bgp.ts BgpDiag), every field optional here. */
export type BgpDiagView = BgpView

export type BgpStateReader = (node: TraceNode) => Promise<BgpDiagView | {error: string}>

/**
 * Node's own fetch, run inside a node's network namespace: the daemon serves /diag on the node's IP,
 * which only the node's namespace (and its underlay) reaches. The token comes on stdin, never in argv.
 */
const FETCH_IN_NETNS = `let t = ''
process.stdin.setEncoding('utf8').on('data', (c) => (t += c)).on('end', async () => {
  try {
    const res = await fetch(process.argv[1], {
      headers: t ? {authorization: 'Bearer ' + t} : {},
      signal: AbortSignal.timeout(5000),
    })
    process.stdout.write(res.status + '\\n' + (await res.text()))
  } catch (e) {
    process.stderr.write(String(e.message))
    process.exitCode = 1
  }
})`

async function getDiag(
  node: TraceNode,
  url: string,
  token: string | undefined,
): Promise<{status: number; body: string}> {
  if (!node.netns) {
    const res = await fetch(url, {
      signal: AbortSignal.timeout(5000),
      headers: token ? {authorization: `Bearer ${token}`} : {},
    })
    return {status: res.status, body: await res.text()}
  }
  const r = await runInNetns(node.netns.path, process.execPath, ['-e', FETCH_IN_NETNS, url], {
    input: token ?? '',
    // Only what node needs: no NODE_OPTIONS of the caller (a test runner's loaders) in a helper.
    env: {PATH: process.env.PATH ?? '/usr/bin:/bin'},
    extendEnv: false,
    timeoutMs: 15_000,
  })
  if (r.exitCode !== 0) throw new Error(r.stderr.trim() || r.spawnError || `exit ${r.exitCode}`)
  const nl = r.stdout.indexOf('\n')
  return {status: Number(r.stdout.slice(0, nl)), body: r.stdout.slice(nl + 1)}
}

/**
 * Reads a node daemon's GET /diag, with the bearer token its gate checks (the kubeconfig user's, as
 * RemoteDiagReader sends it): the document, or why there is none. A node this machine enters is read
 * from inside its namespace.
 */
export async function readDaemonDiag(
  node: TraceNode,
  token?: string,
): Promise<{doc: Record<string, unknown>} | {error: string}> {
  if (!node.diagUrl) return {error: `no diagnostics URL for ${node.name} (its daemon is not running?)`}
  const base = node.diagUrl.replace(/\/+$/, '')
  try {
    const res = await getDiag(node, base.endsWith('/diag') ? base : `${base}/diag`, token)
    if (res.status !== 200) return {error: `${node.name} /diag: HTTP ${res.status}`}
    const doc = parseJson(res.body)
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return {error: `${node.name} /diag: not an object`}
    return {doc: doc as Record<string, unknown>}
  } catch (error) {
    return {error: `${node.name} /diag unreachable (${(error as Error).message}): its daemon is stopped?`}
  }
}

/** Reads `bgp` from a node daemon's GET /diag (readDaemonDiag). */
export function bgpDiagReader(token?: string): BgpStateReader {
  return async (node) => {
    const read = await readDaemonDiag(node, token)
    if ('error' in read) return read
    return (read.doc.bgp as BgpDiagView | null | undefined) ?? {error: `${node.name}'s daemon does not run in bgp mode`}
  }
}

/**
 * The BGP state of each node where trace reads it: a node this machine can't enter (no `netns`), read
 * through its agent (GET /v1/bgp, which asks the node's daemon), when the agent offers it; any other
 * node from its daemon's /diag.
 */
export function nodeBgpReader(
  accessFor: ((node: TraceNode) => NodeAccess | undefined) | undefined,
  diag: BgpStateReader,
): BgpStateReader {
  return async (node) => {
    const access = node.netns ? undefined : accessFor?.(node)
    return access?.bgp ? access.bgp() : diag(node)
  }
}

type Session = NonNullable<BgpDiagView['sessions']>[number]

function sessionLine(s: Session): string {
  const routes =
    s.routesImported === undefined ? '' : `, ${s.routesImported} imported, ${s.routesExported ?? 0} exported`
  return `${s.protocol ?? '?'} (${s.peerNode ?? '?'} ${s.peerIP ?? '?'}, ${s.role ?? '?'}): ${s.state ?? '?'}${s.info && !s.info.startsWith(s.state ?? '') ? ` ${s.info}` : ''}${routes}`
}

function birdc(node: TraceNode, view: BgpDiagView | {error: string} | undefined, args: string): string {
  const speaker = view && !('error' in view) ? view.speaker : undefined
  const cmd = `birdc${speaker?.socket ? ` -s ${speaker.socket}` : ''} ${args}`
  // The socket path is the daemon's view of its files: on a node this machine enters (a lab node,
  // whose daemon runs in a mount namespace of its own), birdc joins bird's mount namespace; on a
  // remote node it runs there.
  if (!node.netns) return execCmd({path: `node:${node.name}`}, cmd)
  return speaker?.pid ? `nsenter -t ${speaker.pid} -m ${cmd}` : cmd
}

/**
 * Rewrites a failing route hop on `node` (the route to `owner`'s pod CIDR is missing) with the BGP
 * reason, when the session state explains it. Returns whether it did.
 */
export function explainMissingRoute(
  hop: TraceHop,
  node: TraceNode,
  owner: TraceNode,
  here: BgpDiagView | {error: string},
  there: BgpDiagView | {error: string} | undefined,
): boolean {
  if ('error' in here) {
    hop.evidence = [...(hop.evidence ?? []), `BGP state of ${node.name} unknown: ${here.error}`]
    return false
  }
  const ownerSide =
    there === undefined
      ? []
      : 'error' in there
        ? [`${owner.name}: ${there.error}`]
        : there.speaker && !there.speaker.running
          ? [`${owner.name}: bird is not running${there.speaker.lastError ? ` (${there.speaker.lastError})` : ''}`]
          : (there.sessions ?? [])
              .filter((s) => s.peerIP === node.nodeIP)
              .map((s) => `${owner.name} sees ${sessionLine(s)}${s.lastError ? `; last error: ${s.lastError}` : ''}`)
  if (here.protocolsError) {
    hop.reason = 'bgp-peer-down'
    hop.detail = `no route for ${owner.podCIDR} on ${node.name}: its BGP speaker does not answer (${here.protocolsError})`
    hop.evidence = [...(hop.evidence ?? []), `${node.name}: ${here.protocolsError}`, ...ownerSide]
    hop.hint = `restart the node daemon on ${node.name} (it starts bird), then: ${birdc(node, here, 'show protocols all')}`
    return true
  }
  const sessions = here.sessions ?? []
  const direct = sessions.find((s) => s.peerIP === owner.nodeIP && s.role !== 'external')
  // With route reflectors the route comes through a reflector session.
  const via = direct ? [direct] : sessions.filter((s) => s.role === 'reflector')
  if (via.length === 0) {
    hop.reason = 'bgp-peer-down'
    hop.detail = `no route for ${owner.podCIDR} on ${node.name}: it has no BGP session with ${owner.name} (${owner.nodeIP}) nor with a route reflector`
    hop.evidence = [...(hop.evidence ?? []), ...sessions.map(sessionLine)]
    hop.hint = `check that ${owner.name} runs in bgp mode and its node-ip annotation is ${owner.nodeIP}: ${birdc(node, here, 'show protocols')}`
    return true
  }
  const up = via.filter((s) => s.established)
  if (up.length === 0) {
    const s = via[0]!
    hop.reason = 'bgp-peer-down'
    hop.detail = `no route for ${owner.podCIDR} on ${node.name}: the BGP session with ${s.peerNode ?? owner.name} (${s.peerIP}) is ${s.state ?? 'down'}, not Established`
    hop.evidence = [
      ...(hop.evidence ?? []),
      `${node.name}: ${sessionLine(s)}`,
      `last error: ${s.lastError ?? '(none)'}`,
      ...ownerSide,
    ]
    hop.hint = `on ${s.peerNode ?? owner.name}: make sure bird runs and TCP 179 from ${node.nodeIP} is accepted (${birdc(owner, there, 'show protocols all')}; iptables -S INPUT | grep 179)`
    return true
  }
  const s = up[0]!
  // The session's count is of every route it brought: none at all is the owner not announcing; some
  // from the owner itself is a route bird learned and did not install; any other count says neither.
  const imported = s.routesImported
  if (imported !== 0) {
    const direct = s.role !== 'reflector' && imported !== undefined
    hop.reason = direct ? 'no-route' : 'unknown'
    hop.detail = direct
      ? `no route for ${owner.podCIDR} on ${node.name}: the BGP session with ${s.peerNode ?? owner.name} (${s.peerIP}) is Established and imported ${imported} route${imported === 1 ? '' : 's'}, but none for ${owner.podCIDR} is in the kernel: bird learned it and did not install it, or ${owner.name} announces other routes only`
      : `no route for ${owner.podCIDR} on ${node.name}: the BGP session with ${s.peerNode ?? owner.name} (${s.peerIP}) is Established; ${imported === undefined ? 'its route counts are unknown' : `its ${imported} imported routes may be other nodes'`}, so whether ${owner.name} announces ${owner.podCIDR} is not known`
    hop.evidence = [...(hop.evidence ?? []), `${node.name}: ${sessionLine(s)}`, ...ownerSide]
    hop.hint = `on ${node.name}, see whether bird holds a route for ${owner.podCIDR} and why it is not in the kernel: ${birdc(node, here, `show route for ${owner.podCIDR} all`)}`
    return true
  }
  hop.reason = 'route-not-advertised'
  hop.detail = `no route for ${owner.podCIDR} on ${node.name}: the BGP session with ${s.peerNode ?? owner.name} (${s.peerIP}) is Established, but ${owner.name} does not announce ${owner.podCIDR}`
  hop.evidence = [...(hop.evidence ?? []), `${node.name}: ${sessionLine(s)}`, ...ownerSide]
  hop.hint = `on ${owner.name}: announce ${owner.podCIDR} again, e.g. ${birdc(owner, there, 'enable pod_cidr')} (the static protocol that originates it), and check with ${birdc(owner, there, `show route export ${protocolFor(node)}`)}`
  return true
}

function protocolFor(node: TraceNode): string {
  return `peer_${node.nodeIP.replaceAll('.', '_')}`
}

/**
 * For every failing route hop whose missing route is another node's pod CIDR, reads the BGP state
 * of both nodes and names the BGP reason. `nodeOf` maps a hop's direction to the destination node.
 */
export async function refineBgpHops(
  hops: TraceHop[],
  nodes: readonly TraceNode[],
  destinationOf: (dir: TraceHop['direction']) => TraceNode,
  read: BgpStateReader = bgpDiagReader(),
): Promise<string[]> {
  const notes: string[] = []
  const cache = new Map<string, Promise<BgpDiagView | {error: string}>>()
  const get = (n: TraceNode) => {
    let p = cache.get(n.name)
    if (!p) cache.set(n.name, (p = read(n)))
    return p
  }
  for (const hop of hops) {
    if (hop.status !== 'fail' || hop.stage !== 'route' || hop.reason !== 'no-route') continue
    const owner = destinationOf(hop.direction)
    const node = nodes.find((n) => n.name === hop.node)
    if (!node || node.name === owner.name) continue
    const [here, there] = await Promise.all([get(node), get(owner)])
    if (!explainMissingRoute(hop, node, owner, here, there) && 'error' in here) notes.push(here.error)
  }
  return notes
}
