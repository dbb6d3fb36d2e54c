/**
 * What a service proxy programs, from the objects it reads: one `ServicePort` per port of every
 * ClusterIP Service, with the ready endpoints its EndpointSlices list for that port. Pure, and
 * strict: a value that is not what the API validates (a name that is no DNS label, an address that
 * is no IPv4 address, a port out of range) leaves its Service or endpoint out, with a reason, so
 * that only checked words ever reach an iptables rule (restore.ts).
 */
import {formatIP, parseIP} from '../core/ip.js'

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name'

export type Protocol = 'tcp' | 'udp' | 'sctp'

export interface Endpoint {
  ip: string
  port: number
}

export interface ServicePort {
  namespace: string
  name: string
  /** The Service port's name, '' for an unnamed single port. */
  portName: string
  protocol: Protocol
  clusterIP: string
  port: number
  /** ClientIP session affinity: how long a client sticks to its endpoint. */
  affinitySeconds?: number
  /** Ready endpoints, sorted by address then port, without duplicates. */
  endpoints: Endpoint[]
}

export interface ProxyModel {
  ports: ServicePort[]
  /** Why objects were left out, one line each. */
  skipped: string[]
}

type Rec = Record<string, unknown>
const rec = (v: unknown): Rec => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Rec) : {})
const list = (v: unknown): Rec[] => (Array.isArray(v) ? v.map(rec) : [])

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/
const isPort = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535

function ipv4(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined
  const a = parseIP(v)
  return a?.family === 4 ? formatIP(a) : undefined
}

function protocolOf(v: unknown): Protocol | undefined {
  const p = v === undefined ? 'TCP' : v
  return p === 'TCP' ? 'tcp' : p === 'UDP' ? 'udp' : p === 'SCTP' ? 'sctp' : undefined
}

// A Service port's name is a DNS label, as the API validates it.
const portNameOk = (n: string) => n === '' || DNS_LABEL.test(n)

/** The model of a set of Services and EndpointSlices (as the API serves them, in JSON form). */
export function buildModel(services: readonly unknown[], slices: readonly unknown[]): ProxyModel {
  const skipped: string[] = []
  // namespace/service → portName/protocol → endpoints
  const eps = new Map<string, Map<string, Map<string, Endpoint>>>()
  for (const raw of slices) {
    const s = rec(raw)
    const meta = rec(s.metadata)
    const svc = rec(meta.labels)[SERVICE_NAME_LABEL]
    if (typeof svc !== 'string' || s.addressType !== 'IPv4') continue
    const key = `${String(meta.namespace)}/${svc}`
    const where = `${key}: EndpointSlice ${String(meta.name)}`
    const byPort = eps.get(key) ?? new Map<string, Map<string, Endpoint>>()
    eps.set(key, byPort)
    // An address is read once per port: said once.
    const badAddresses = new Set<string>()
    for (const p of list(s.ports)) {
      const proto = protocolOf(p.protocol)
      const name = typeof p.name === 'string' ? p.name : ''
      if (!proto || !isPort(p.port)) {
        skipped.push(`${where}: port ${JSON.stringify(p)} is not valid`)
        continue
      }
      const k = `${name}/${proto}`
      const set = byPort.get(k) ?? new Map<string, Endpoint>()
      byPort.set(k, set)
      for (const e of list(s.endpoints)) {
        // EndpointConditions: a nil ready means ready.
        if (rec(e.conditions).ready === false) continue
        for (const a of Array.isArray(e.addresses) ? e.addresses : []) {
          const ip = ipv4(a)
          if (ip) set.set(`${ip}:${p.port}`, {ip, port: p.port})
          else badAddresses.add(JSON.stringify(a))
        }
      }
    }
    for (const a of badAddresses) skipped.push(`${where}: endpoint address ${a} is not an IPv4 address`)
  }
  const ports: ServicePort[] = []
  for (const raw of services) {
    const s = rec(raw)
    const meta = rec(s.metadata)
    const spec = rec(s.spec)
    const ns = meta.namespace
    const name = meta.name
    const id = `${String(ns)}/${String(name)}`
    if (typeof ns !== 'string' || typeof name !== 'string' || !DNS_LABEL.test(ns) || !DNS_LABEL.test(name)) {
      skipped.push(`${id}: not a namespace/name of DNS labels`)
      continue
    }
    if ((spec.type ?? 'ClusterIP') !== 'ClusterIP') {
      skipped.push(`${id}: type ${String(spec.type)} is not ClusterIP`)
      continue
    }
    if (spec.clusterIP === 'None' || spec.clusterIP === undefined || spec.clusterIP === '') continue
    const clusterIP = ipv4(spec.clusterIP)
    if (!clusterIP) {
      skipped.push(`${id}: clusterIP ${JSON.stringify(spec.clusterIP)} is not an IPv4 address`)
      continue
    }
    const affinity =
      spec.sessionAffinity === 'ClientIP'
        ? Number(rec(rec(spec.sessionAffinityConfig).clientIP).timeoutSeconds ?? 10800)
        : undefined
    for (const p of list(spec.ports)) {
      const portName = typeof p.name === 'string' ? p.name : ''
      const protocol = protocolOf(p.protocol)
      if (!portNameOk(portName) || !protocol || !isPort(p.port)) {
        skipped.push(`${id}: port ${JSON.stringify(p)} is not valid`)
        continue
      }
      const found = eps.get(id)?.get(`${portName}/${protocol}`)
      const endpoints = [...(found?.values() ?? [])].sort((a, b) => compareIPs(a.ip, b.ip) || a.port - b.port)
      ports.push({
        namespace: ns,
        name,
        portName,
        protocol,
        clusterIP,
        port: p.port,
        ...(affinity !== undefined && Number.isInteger(affinity) && affinity > 0 ? {affinitySeconds: affinity} : {}),
        endpoints,
      })
    }
  }
  ports.sort((a, b) => servicePortName(a).localeCompare(servicePortName(b)) || a.protocol.localeCompare(b.protocol))
  return {ports, skipped}
}

function compareIPs(a: string, b: string): number {
  const x = parseIP(a)!.value
  const y = parseIP(b)!.value
  return x < y ? -1 : x > y ? 1 : 0
}

/** kube-proxy's ServicePortName string: "namespace/name:port", or "namespace/name" for an unnamed port. */
export function servicePortName(p: Pick<ServicePort, 'namespace' | 'name' | 'portName'>): string {
  return `${p.namespace}/${p.name}${p.portName ? `:${p.portName}` : ''}`
}
