/**
 * What the apiserver does for Services, EndpointSlices and NetworkPolicies beyond storing them:
 * Service defaults and validation (pkg/apis/core/validation ValidateService, the subset the lab
 * serves: ClusterIP and headless Services over IPv4), the ClusterIP allocator, and the shape checks
 * of EndpointSlices and NetworkPolicies that keep a malformed object from reaching the service proxy
 * or the endpoints controller.
 *
 * ClusterIPs come from the service CIDR (10.96.0.0/12 unless the store is given another). The
 * allocator keeps no state of its own: the addresses in use are those of the stored Services, so an
 * address is free again the moment its Service is deleted, no address is handed out twice, and a
 * restart from the state file needs no repair (the real apiserver keeps a bitmap, or IPAddress
 * objects, for the same answer).
 */
import {randomInt} from 'node:crypto'

import {contains, formatIP, lastOf, networkOf, parseCIDR, parseIP, type Cidr} from '../../core/ip.js'
import type {K8sObject} from './resources.js'
import type {StatusCause} from './status.js'

export const DEFAULT_SERVICE_CIDR = '10.96.0.0/12'

type Rec = Record<string, unknown>
const isRec = (v: unknown): v is Rec => v !== null && typeof v === 'object' && !Array.isArray(v)

// validation.IsValidPortName (IANA_SVC_NAME): at most 15 characters, lowercase letters, digits and
// '-', at least one letter, no '-' at either end and no '--'.
export function isPortName(s: string): boolean {
  return s.length <= 15 && /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(s) && /[a-z]/.test(s) && !s.includes('--')
}

// A Service's and an EndpointSlice's port names are DNS labels (ValidateDNS1123Label); only a
// targetPort (a container port's name) is an IANA_SVC_NAME.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/

const PROTOCOLS = new Set(['TCP', 'UDP', 'SCTP'])
const isPort = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535

function cause(field: string, message: string, reason = 'FieldValueInvalid'): StatusCause {
  return {reason, message, field}
}

/** The service CIDR as a parsed IPv4 network; throws for anything else (a programming error). */
export function serviceCidr(text: string): Cidr {
  const c = parseCIDR(text)
  if (!c || c.family !== 4) throw new Error(`service CIDR ${text} is not an IPv4 CIDR`)
  return c
}

/** Fills what the real registry defaults on a Service (pkg/apis/core/v1/defaults.go). */
export function defaultService(obj: K8sObject): void {
  const spec = (obj.spec ??= {})
  spec.type ??= 'ClusterIP'
  spec.sessionAffinity ??= 'None'
  spec.internalTrafficPolicy ??= 'Cluster'
  if (Array.isArray(spec.ports)) {
    for (const p of spec.ports) {
      if (!isRec(p)) continue
      p.protocol ??= 'TCP'
      // An unset (or zero) targetPort means the service port (SetDefaults_Service).
      if (p.targetPort === undefined || p.targetPort === 0 || p.targetPort === '') p.targetPort = p.port
    }
  }
}

/** Validates a Service's spec; the causes of a 422, empty when valid. */
export function validateService(obj: K8sObject): StatusCause[] {
  const causes: StatusCause[] = []
  const spec = isRec(obj.spec) ? obj.spec : {}
  if (spec.type !== 'ClusterIP') {
    causes.push(
      cause(
        'spec.type',
        `Unsupported value: ${JSON.stringify(spec.type)}: the cnidbg lab serves ClusterIP Services only`,
        'FieldValueNotSupported',
      ),
    )
  }
  const headless = spec.clusterIP === 'None'
  const ports = spec.ports
  if (!Array.isArray(ports) || (ports.length === 0 && !headless)) {
    causes.push(cause('spec.ports', 'Required value', 'FieldValueRequired'))
  } else {
    const names = new Set<string>()
    ports.forEach((p, i) => {
      const f = `spec.ports[${i}]`
      if (!isRec(p)) {
        causes.push(cause(f, 'Invalid value: must be an object'))
        return
      }
      const name = p.name ?? ''
      if (typeof name !== 'string' || (name !== '' && !DNS_LABEL.test(name))) {
        causes.push(cause(`${f}.name`, `Invalid value: ${JSON.stringify(name)}: must be a DNS label`))
      } else if (ports.length > 1 && name === '') {
        causes.push(cause(`${f}.name`, 'Required value', 'FieldValueRequired'))
      } else if (names.has(name)) {
        causes.push(cause(`${f}.name`, `Duplicate value: ${JSON.stringify(name)}`, 'FieldValueDuplicate'))
      }
      names.add(String(name))
      if (!isPort(p.port)) {
        causes.push(cause(`${f}.port`, `Invalid value: ${JSON.stringify(p.port)}: must be between 1 and 65535`))
      }
      if (typeof p.protocol !== 'string' || !PROTOCOLS.has(p.protocol)) {
        causes.push(
          cause(`${f}.protocol`, `Unsupported value: ${JSON.stringify(p.protocol)}`, 'FieldValueNotSupported'),
        )
      }
      const tp = p.targetPort
      if (!(isPort(tp) || (typeof tp === 'string' && isPortName(tp)))) {
        causes.push(
          cause(`${f}.targetPort`, `Invalid value: ${JSON.stringify(tp)}: must be a port number or an IANA_SVC_NAME`),
        )
      }
      if (p.nodePort !== undefined) {
        causes.push(
          cause(`${f}.nodePort`, "Forbidden: may not be used when `type` is 'ClusterIP'", 'FieldValueForbidden'),
        )
      }
    })
  }
  if (
    spec.selector !== undefined &&
    (!isRec(spec.selector) || Object.values(spec.selector).some((v) => typeof v !== 'string'))
  ) {
    causes.push(cause('spec.selector', 'Invalid value: must be a map of strings'))
  }
  if (spec.sessionAffinity !== 'None' && spec.sessionAffinity !== 'ClientIP') {
    causes.push(
      cause(
        'spec.sessionAffinity',
        `Unsupported value: ${JSON.stringify(spec.sessionAffinity)}`,
        'FieldValueNotSupported',
      ),
    )
  }
  return causes
}

/** The ClusterIPs of stored Services (headless ones have none). */
export function allocatedIPs(services: Iterable<K8sObject>): Set<string> {
  const used = new Set<string>()
  for (const s of services) {
    const ip = isRec(s.spec) ? s.spec.clusterIP : undefined
    if (typeof ip === 'string' && ip !== 'None' && ip !== '') used.add(ip)
  }
  return used
}

/**
 * Gives a new Service its ClusterIP: the one it asked for if that is in range and free, else a cause
 * for a 422 (the real apiserver's messages); without a request, a random free address of the range
 * (neither its network nor its broadcast address). `clusterIPs` mirrors `clusterIP`, as in
 * single-stack Services.
 */
export function allocateClusterIP(obj: K8sObject, cidr: Cidr, used: ReadonlySet<string>): StatusCause[] {
  const spec = (obj.spec ??= {})
  const requested = spec.clusterIP ?? (Array.isArray(spec.clusterIPs) ? spec.clusterIPs[0] : undefined)
  if (requested === 'None') {
    spec.clusterIP = 'None'
    spec.clusterIPs = ['None']
    return []
  }
  const field = 'spec.clusterIPs'
  const cidrText = `${formatIP({family: 4, value: networkOf(cidr)})}/${cidr.prefix}`
  if (requested !== undefined && requested !== '') {
    const addr = typeof requested === 'string' ? parseIP(requested) : undefined
    if (!addr || addr.family !== 4) {
      return [cause(field, `Invalid value: ${JSON.stringify([requested])}: must be a valid IPv4 address`)]
    }
    const text = formatIP(addr)
    if (!contains(cidr, addr) || addr.value === networkOf(cidr) || addr.value === lastOf(cidr)) {
      return [
        cause(
          field,
          `Invalid value: ${JSON.stringify([requested])}: failed to allocate IP ${text}: the provided IP (${text}) is not in the valid range. The range of valid IPs is ${cidrText}`,
        ),
      ]
    }
    if (used.has(text)) {
      return [
        cause(
          field,
          `Invalid value: ${JSON.stringify([requested])}: failed to allocate IP ${text}: provided IP is already allocated`,
        ),
      ]
    }
    spec.clusterIP = text
    spec.clusterIPs = [text]
    return []
  }
  const first = networkOf(cidr) + 1n
  const size = Number(lastOf(cidr) - first)
  if (size <= 0 || used.size >= size) {
    return [cause(field, `Internal error: failed to allocate a serviceIP: range is full`, 'FieldValueInvalid')]
  }
  // A random start, then the next free address: uniform enough, and always ends.
  const start = randomInt(size)
  for (let i = 0; i < size; i++) {
    const text = formatIP({family: 4, value: first + BigInt((start + i) % size)})
    if (!used.has(text)) {
      spec.clusterIP = text
      spec.clusterIPs = [text]
      spec.ipFamilies = ['IPv4']
      spec.ipFamilyPolicy = 'SingleStack'
      return []
    }
  }
  return [cause(field, `Internal error: failed to allocate a serviceIP: range is full`)]
}

/**
 * On update a Service keeps its ClusterIP: an update that leaves it out gets the stored one back
 * (what `kubectl replace` of an applied manifest relies on), one that changes it is refused.
 */
export function keepClusterIP(old: K8sObject, obj: K8sObject): StatusCause[] {
  const was = isRec(old.spec) ? old.spec : {}
  const spec = (obj.spec ??= {})
  if (spec.clusterIP === undefined || spec.clusterIP === '') {
    spec.clusterIP = was.clusterIP
    if (spec.clusterIPs === undefined || (Array.isArray(spec.clusterIPs) && spec.clusterIPs.length === 0))
      spec.clusterIPs = was.clusterIPs
  }
  if (spec.clusterIPs === undefined) spec.clusterIPs = was.clusterIPs
  for (const f of ['ipFamilies', 'ipFamilyPolicy'] as const)
    if (spec[f] === undefined && was[f] !== undefined) spec[f] = was[f]
  if (spec.clusterIP !== was.clusterIP || JSON.stringify(spec.clusterIPs) !== JSON.stringify(was.clusterIPs)) {
    return [cause('spec.clusterIPs[0]', `Invalid value: ${JSON.stringify(spec.clusterIP)}: may not change once set`)]
  }
  return []
}

const ADDRESS_TYPES = new Set(['IPv4', 'IPv6', 'FQDN'])

/** discovery/v1 ValidateEndpointSlice, the parts a reader depends on. */
export function validateEndpointSlice(obj: K8sObject): StatusCause[] {
  const causes: StatusCause[] = []
  if (typeof obj.addressType !== 'string' || !ADDRESS_TYPES.has(obj.addressType)) {
    causes.push(cause('addressType', `Unsupported value: ${JSON.stringify(obj.addressType)}`, 'FieldValueNotSupported'))
  }
  const eps = obj.endpoints ?? []
  if (!Array.isArray(eps)) causes.push(cause('endpoints', 'Invalid value: must be a list'))
  else {
    eps.forEach((e, i) => {
      const ok =
        isRec(e) &&
        Array.isArray(e.addresses) &&
        e.addresses.length >= 1 &&
        e.addresses.length <= 100 &&
        e.addresses.every((a) => typeof a === 'string' && (obj.addressType === 'FQDN' || parseIP(a) !== undefined))
      if (!ok)
        causes.push(
          cause(`endpoints[${i}].addresses`, 'Invalid value: must hold 1 to 100 addresses of the addressType'),
        )
    })
  }
  const ports = obj.ports ?? []
  if (!Array.isArray(ports)) causes.push(cause('ports', 'Invalid value: must be a list'))
  else {
    ports.forEach((p, i) => {
      if (!isRec(p)) {
        causes.push(cause(`ports[${i}]`, 'Invalid value: must be an object'))
        return
      }
      if (p.port !== undefined && p.port !== null && !isPort(p.port))
        causes.push(cause(`ports[${i}].port`, `Invalid value: ${JSON.stringify(p.port)}: must be between 1 and 65535`))
      if (p.protocol !== undefined && (typeof p.protocol !== 'string' || !PROTOCOLS.has(p.protocol)))
        causes.push(
          cause(`ports[${i}].protocol`, `Unsupported value: ${JSON.stringify(p.protocol)}`, 'FieldValueNotSupported'),
        )
      if (p.name !== undefined && p.name !== '' && (typeof p.name !== 'string' || !DNS_LABEL.test(p.name)))
        causes.push(cause(`ports[${i}].name`, `Invalid value: ${JSON.stringify(p.name)}: must be a DNS label`))
    })
  }
  return causes
}

/** networking/v1 ValidateNetworkPolicy, the shape only: podSelector is required. */
export function validateNetworkPolicy(obj: K8sObject): StatusCause[] {
  const spec = obj.spec
  if (!isRec(spec) || !isRec(spec.podSelector))
    return [cause('spec.podSelector', 'Required value', 'FieldValueRequired')]
  const causes: StatusCause[] = []
  for (const f of ['ingress', 'egress', 'policyTypes'] as const) {
    if (spec[f] !== undefined && !Array.isArray(spec[f]))
      causes.push(cause(`spec.${f}`, 'Invalid value: must be a list'))
  }
  if (Array.isArray(spec.policyTypes) && spec.policyTypes.some((t) => t !== 'Ingress' && t !== 'Egress')) {
    causes.push(cause('spec.policyTypes', 'Unsupported value: must be Ingress or Egress', 'FieldValueNotSupported'))
  }
  return causes
}

/** NetworkPolicy defaults (SetDefaults_NetworkPolicy): policyTypes from what the spec holds. */
export function defaultNetworkPolicy(obj: K8sObject): void {
  const spec = obj.spec
  if (!isRec(spec) || spec.policyTypes !== undefined) return
  spec.policyTypes = ['Ingress', ...(Array.isArray(spec.egress) && spec.egress.length > 0 ? ['Egress'] : [])]
}
