/**
 * The VPC route-table API of `lab up --mode vpc`: a cloud's route table for the lab's VPC router,
 * shaped like the Kubernetes cloud-provider Routes interface (ListRoutes, CreateRoute, DeleteRoute:
 * a route is `{name, targetNode, destinationCIDR, blackhole}`), JSON over HTTP.
 *
 *   GET    /v1/routes                                    ListRoutes
 *   POST   /v1/routes   {targetNode, destinationCIDR}    CreateRoute (replaces a route with the same CIDR)
 *   DELETE /v1/routes?destinationCIDR=10.244.1.0/24      DeleteRoute (&targetNode=N: only if it targets N)
 *
 * The entries are the router namespace's kernel routes with VPC_ROUTE_PROTO: what the API says is
 * what forwards packets, and a route deleted with `ip` is gone from ListRoutes too. Every request
 * carries a bearer token of the lab's API server, checked by TokenReview; only the node daemons'
 * ServiceAccount and cluster admins may call it. The table holds at most `quota` routes.
 *
 * The supervisor serves it on a unix socket; its forwarder relays the control plane's underlay
 * address to it (`router.apiUrl`), as it does for the API server.
 */
import {createHash} from 'node:crypto'
import type http from 'node:http'

import {createBoundedServer, HttpError, listen, readBody, parseJson, requestUrl} from '../core/http.js'
import {formatCIDR, containsCIDR, parseIP, parseNetwork} from '../core/ip.js'
import type {Reviewer} from '../kube/node-proxy-gate.js'
import {ip, ipJson} from '../netns/netns.js'
import {VPC_ROUTE_PROTO} from '../daemon/backends/vpc.js'

/** cloudprovider.Route, as JSON. */
export interface VpcRoute {
  name: string
  /** The node the route sends to; '' when its next hop is no node's address. */
  targetNode: string
  /** The next hop's address (what the kernel route holds). */
  targetIP?: string
  destinationCIDR: string
  blackhole: boolean
}

export interface VpcApiOptions {
  /** The router's namespace and node-facing device. */
  netns: string
  iface: string
  /** The cluster CIDR: the table takes pod routes only. */
  clusterCIDR: string
  /** The nodes the VPC has, by name (the cloud knows its instances). */
  nodes: ReadonlyArray<{name: string; nodeIP: string}>
  /** Routes the table holds at most; a function is asked on every request (the quota can be raised). */
  quota: number | (() => number)
  reviewer: Reviewer
  /** Users allowed besides members of system:masters. */
  allowedUsers: readonly string[]
  log: (line: string) => void
}

const AUTH_CACHE_MS = 10_000

/** The route table in the router's kernel. */
export async function listVpcRoutes(
  netns: string,
  nodes: ReadonlyArray<{name: string; nodeIP: string}>,
): Promise<VpcRoute[]> {
  const rows = await ipJson<Array<{dst: string; gateway?: string; type?: string}>>(
    ['-4', 'route', 'show', 'table', 'all', 'proto', String(VPC_ROUTE_PROTO)],
    netns,
  )
  return rows.map((r) => {
    const node = nodes.find((n) => n.nodeIP === r.gateway)
    return {
      name: routeName(r.dst),
      targetNode: node?.name ?? '',
      ...(r.gateway ? {targetIP: r.gateway} : {}),
      destinationCIDR: r.dst,
      blackhole: r.type === 'blackhole',
    }
  })
}

/** A route's name: its CIDR, as a name (`10-244-1-0-24`). */
export function routeName(cidr: string): string {
  return cidr.replaceAll(/[./]/g, '-')
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text)})
  res.end(text)
}

/** A pod CIDR inside the cluster CIDR, canonical; anything else is a 400 before `ip` sees it. */
function checkCidr(text: unknown, clusterCIDR: string): string {
  const c = typeof text === 'string' && text.length <= 43 ? parseNetwork(text, {family: 4}) : undefined
  const cluster = parseNetwork(clusterCIDR)
  if (!c || !cluster || !containsCIDR(cluster, c))
    throw new HttpError(400, `destinationCIDR must be an IPv4 network inside ${clusterCIDR}`)
  return formatCIDR(c)
}

export function createVpcApiServer(opts: VpcApiOptions): http.Server {
  const quota = (): number => (typeof opts.quota === 'function' ? opts.quota() : opts.quota)
  // A token's review, both answers: who it is (401 when no one) and whether they may edit (403).
  const authCache = new Map<string, {authenticated: boolean; allowed: boolean; until: number}>()
  const authorize = async (req: http.IncomingMessage): Promise<void> => {
    const m = /^Bearer (\S{1,4096})$/.exec(req.headers.authorization ?? '')
    if (!m) throw new HttpError(401, 'a bearer token is required')
    const key = createHash('sha256').update(m[1]!).digest('hex')
    const now = Date.now()
    let hit = authCache.get(key)
    if (!hit || hit.until < now) {
      const answer = await opts.reviewer.reviewToken(m[1]!).catch((error: unknown) => {
        throw new HttpError(503, `token review failed: ${(error as Error).message}`)
      })
      const u = answer.user
      const authenticated = answer.authenticated && u !== undefined
      const allowed = authenticated && (opts.allowedUsers.includes(u.username) || u.groups.includes('system:masters'))
      hit = {authenticated, allowed, until: now + AUTH_CACHE_MS}
      if (authCache.size > 1000) authCache.clear()
      authCache.set(key, hit)
    }
    if (!hit.authenticated) throw new HttpError(401, 'invalid token')
    if (!hit.allowed) throw new HttpError(403, 'this identity may not edit the route table')
  }

  // One change at a time: the quota check and the route it admits are one step.
  let chain: Promise<unknown> = Promise.resolve()
  const serial = <T>(f: () => Promise<T>): Promise<T> => {
    const p = chain.then(f, f)
    chain = p.catch(() => {})
    return p
  }

  return createBoundedServer(
    async (req, res) => {
      const url = requestUrl(req)
      if (url.pathname !== '/v1/routes') throw new HttpError(404, `no such path: ${url.pathname}`)
      await authorize(req)
      if (req.method === 'GET') {
        send(res, 200, {routes: await listVpcRoutes(opts.netns, opts.nodes), quota: quota()})
        return
      }
      if (req.method === 'POST') {
        const body = parseJson((await readBody(req, 4096)).toString('utf8')) as Record<string, unknown> | undefined
        const cidr = checkCidr(body?.destinationCIDR, opts.clusterCIDR)
        const node = opts.nodes.find((n) => n.name === body?.targetNode)
        if (!node) throw new HttpError(400, `targetNode must be one of: ${opts.nodes.map((n) => n.name).join(', ')}`)
        if (parseIP(node.nodeIP)?.family !== 4) throw new HttpError(500, `node ${node.name} has no IPv4 address`)
        const route = await serial(async () => {
          const have = await listVpcRoutes(opts.netns, opts.nodes)
          const limit = quota()
          if (!have.some((r) => r.destinationCIDR === cidr) && have.length >= limit)
            throw new HttpError(409, `RouteLimitExceeded: the route table holds its quota of ${limit} routes`)
          await ip(
            ['route', 'replace', cidr, 'via', node.nodeIP, 'dev', opts.iface, 'proto', String(VPC_ROUTE_PROTO)],
            opts.netns,
          )
          return {
            name: routeName(cidr),
            targetNode: node.name,
            targetIP: node.nodeIP,
            destinationCIDR: cidr,
            blackhole: false,
          }
        })
        opts.log(`CreateRoute ${cidr} → ${node.name}`)
        send(res, 201, route)
        return
      }
      if (req.method === 'DELETE') {
        const cidr = checkCidr(url.searchParams.get('destinationCIDR'), opts.clusterCIDR)
        const target = url.searchParams.get('targetNode')
        const gone = await serial(async () => {
          const have = await listVpcRoutes(opts.netns, opts.nodes)
          if (!have.some((r) => r.destinationCIDR === cidr && (target === null || r.targetNode === target)))
            return false
          await ip(['route', 'del', cidr, 'proto', String(VPC_ROUTE_PROTO)], opts.netns)
          return true
        })
        if (!gone) throw new HttpError(404, `no route for ${cidr}`)
        opts.log(`DeleteRoute ${cidr}`)
        send(res, 200, {deleted: cidr})
        return
      }
      res.setHeader('allow', 'GET, POST, DELETE')
      throw new HttpError(405, `method ${req.method} not allowed`)
    },
    {log: opts.log, limits: {maxConnections: 64}},
  )
}

export async function startVpcApi(socket: string, opts: VpcApiOptions): Promise<http.Server> {
  const server = createVpcApiServer(opts)
  await listen(server, socket)
  return server
}
