import {isCIDR, isIP, parseCIDR} from '../core/ip.js'
import {type SplitOutput, valueText} from './json-output.js'
import type {Verb} from './types.js'
import {hasIpVersionField, hasLegacyResult} from './versions.js'

/**
 * Spec checks on what a plugin printed, shared by `exec` (shown as warnings) and `conformance`
 * (where checks turn them into pass/fail). Each problem names its checklist requirement.
 */
export interface SpecProblem {
  requirement: string
  severity: 'must' | 'should' | 'info'
  message: string
}

const problem = (requirement: string, severity: SpecProblem['severity'], message: string): SpecProblem => ({
  message,
  requirement,
  severity,
})

/** P1–P5: stdout framing versus exit code. */
export function framingProblems(
  verb: Verb,
  exitCode: number | null,
  split: SplitOutput,
  stderr: string,
): SpecProblem[] {
  const out: SpecProblem[] = []
  const [first] = split.objects
  const firstObj = first && typeof first === 'object' ? (first as Record<string, unknown>) : undefined
  const looksLikeError = firstObj !== undefined && typeof firstObj.code === 'number' && 'msg' in firstObj
  if (split.noise)
    out.push(
      problem('P2', 'must', `stdout has text outside the JSON object: ${JSON.stringify(split.noise.slice(0, 80))}`),
    )
  if (split.objects.length > 1)
    out.push(problem('P2', 'must', `stdout has ${split.objects.length} JSON values; the spec allows exactly one`))
  if (split.unparsed) {
    const text = JSON.stringify(split.unparsed.slice(0, 80))
    // Valid JSON that cnidbg does not walk (src/core/json.ts); libcni's decoder refuses it past 10,000 levels.
    if (split.unparsedTooDeep)
      out.push(problem('P2', 'must', `stdout has ${split.unparsedTooDeep}, which cnidbg does not read: ${text}`))
    else out.push(problem('P2', 'must', `stdout has malformed JSON: ${text}`))
  }
  if (exitCode === 0 && looksLikeError)
    out.push(problem('P1', 'must', `exit code 0 but stdout is an error object (code ${firstObj?.code})`))
  if (exitCode !== 0 && exitCode !== null) {
    if (firstObj && !looksLikeError && (verb === 'ADD' || verb === 'VERSION'))
      out.push(problem('P1', 'must', `exit code ${exitCode} but stdout is a success result`))
    if (split.objects.length === 0 && stderr.trim())
      out.push(problem('P3', 'should', 'the error went to stderr as plain text; stdout should carry an error object'))
    if (split.objects.length === 0 && !stderr.trim())
      out.push(problem('P3', 'should', 'failed with no error object and no message'))
  }
  if (exitCode === 0 && (verb === 'CHECK' || verb === 'GC') && (split.objects.length > 0 || split.noise))
    out.push(problem('P5', 'should', `${verb} succeeded but printed output; it should print nothing`))
  if (verb === 'ADD' && exitCode === 0 && split.objects.length === 0)
    out.push(problem('P33', 'must', 'ADD succeeded but printed no result'))
  return out
}

/** P60–P61: the error object's shape and code. */
export function errorProblems(err: unknown, configVersion?: string): SpecProblem[] {
  const out: SpecProblem[] = []
  const e = (err ?? {}) as Record<string, unknown>
  if (typeof e.code !== 'number' || !Number.isInteger(e.code))
    out.push(problem('P60', 'must', 'the error object has no numeric code'))
  if (typeof e.msg !== 'string' || e.msg === '') out.push(problem('P60', 'should', 'the error object has no msg'))
  if (e.cniVersion === undefined)
    out.push(problem('P60', 'info', 'the error object has no cniVersion (Go plugins omit it)'))
  else if (configVersion && e.cniVersion !== configVersion)
    out.push(
      problem(
        'P60',
        'info',
        `the error's cniVersion ${valueText(e.cniVersion)} differs from the config's ${configVersion}`,
      ),
    )
  const code = e.code as number
  if (
    typeof code === 'number' &&
    (code === 0 || (code >= 12 && code <= 49) || (code >= 52 && code <= 99) || (code >= 8 && code <= 10))
  )
    out.push(
      problem(
        'P61',
        code === 8 ? 'info' : 'should',
        `error code ${code} is reserved by the spec but has no defined meaning`,
      ),
    )
  return out
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)

/**
 * The entries of a result's list, each an object or undefined where the plugin printed something
 * else (`"ips": [null]`), which is a problem of its own: a result is the plugin's output, never
 * trusted to be well formed (P27, the result's shape).
 */
function listOfObjects(v: unknown, what: string, out: SpecProblem[]): Array<Record<string, unknown> | undefined> {
  if (!Array.isArray(v)) {
    out.push(problem('P27', 'must', `${what} is not a list`))
    return []
  }
  return v.map((e, i) => {
    if (isObject(e)) return e
    out.push(problem('P27', 'must', `${what}[${i}] is not an object: ${JSON.stringify(e).slice(0, 80)}`))
    return undefined
  })
}

export interface ResultContext {
  version: string
  role?: 'interface' | 'chained' | 'ipam'
  ifname?: string
  netns?: string
}

/** P39–P54: the shape of an ADD result at its version. */
export function resultProblems(result: unknown, ctx: ResultContext): SpecProblem[] {
  const out: SpecProblem[] = []
  if (!result || typeof result !== 'object' || Array.isArray(result))
    return [problem('P33', 'must', 'the result is not a JSON object')]
  const r = result as Record<string, unknown>
  if (typeof r.cniVersion !== 'string' || r.cniVersion === '')
    out.push(problem('P39', 'must', 'the result has no cniVersion'))
  else if (r.cniVersion !== ctx.version)
    out.push(problem('P26', 'must', `the result's cniVersion is ${r.cniVersion} but the request's is ${ctx.version}`))
  if (hasLegacyResult(ctx.version)) {
    for (const key of ['ip4', 'ip6']) {
      const b = r[key]
      if (b === undefined || b === null) continue
      if (!isObject(b)) {
        out.push(problem('P27', 'must', `${key} is not an object`))
        continue
      }
      if (!isCIDR(b.ip)) out.push(problem('P45', 'must', `${key}.ip ${JSON.stringify(b.ip)} is not in CIDR form`))
      if (b.routes !== undefined && b.routes !== null) {
        const routes = listOfObjects(b.routes, `${key}.routes`, out)
        routes.forEach((rt, i) => {
          if (rt && !isCIDR(rt.dst))
            out.push(problem('P49', 'must', `${key}.routes[${i}].dst ${JSON.stringify(rt.dst)} is not CIDR`))
        })
      }
    }
    if (Array.isArray(r.ips)) out.push(problem('P27', 'must', `a ${ctx.version} result uses ip4/ip6, not ips[]`))
    return out
  }
  if (r.ip4 !== undefined || r.ip6 !== undefined)
    out.push(problem('P27', 'must', `a ${ctx.version} result has no ip4/ip6; use ips[]`))
  if (r.interfaces !== undefined && !Array.isArray(r.interfaces))
    out.push(problem('P40', 'must', 'interfaces is not a list'))
  // Indexed as the plugin printed them (ips[].interface counts every entry); undefined where not an object.
  const listed = Array.isArray(r.interfaces) ? listOfObjects(r.interfaces, 'interfaces', out) : []
  const interfaces = listed.filter((i): i is Record<string, unknown> => i !== undefined)
  listed.forEach((iface, i) => {
    if (!iface) return
    if (typeof iface.name !== 'string' || iface.name === '')
      out.push(problem('P41', 'must', `interfaces[${i}] has no name`))
    if (
      iface.mac !== undefined &&
      (typeof iface.mac !== 'string' || !/^([0-9a-f]{2}:){5,19}[0-9a-f]{2}$/i.test(iface.mac))
    )
      out.push(problem('P42', 'should', `interfaces[${i}].mac ${JSON.stringify(iface.mac)} is not a hardware address`))
    if (iface.mtu !== undefined && (!Number.isInteger(iface.mtu) || (iface.mtu as number) < 0))
      out.push(problem('P44', 'must', `interfaces[${i}].mtu is not an unsigned integer`))
    if (iface.socketPath !== undefined && !(typeof iface.socketPath === 'string' && iface.socketPath.startsWith('/')))
      out.push(problem('P44', 'must', `interfaces[${i}].socketPath is not an absolute path`))
  })
  if (ctx.role === 'ipam' && r.interfaces !== undefined)
    out.push(problem('P54', 'must', 'an IPAM plugin returned interfaces; its result must be abbreviated'))
  if (ctx.role === 'interface' && ctx.ifname && !interfaces.some((i) => i.name === ctx.ifname && i.sandbox))
    out.push(problem('P40', 'must', `the result does not list the container interface ${ctx.ifname} with a sandbox`))
  if (ctx.netns) {
    for (const iface of interfaces)
      if (iface.name === ctx.ifname && iface.sandbox !== undefined && iface.sandbox !== ctx.netns)
        out.push(
          problem(
            'P43',
            'should',
            `interface ${ctx.ifname} has sandbox ${valueText(iface.sandbox)}, expected CNI_NETNS ${ctx.netns}`,
          ),
        )
  }
  // A null list is an empty one, as Go's decoder reads it.
  const ips = r.ips === undefined || r.ips === null ? [] : listOfObjects(r.ips, 'ips', out)
  ips.forEach((ip, i) => {
    if (!ip) return
    const cidr = typeof ip.address === 'string' ? parseCIDR(ip.address) : undefined
    if (!cidr) out.push(problem('P45', 'must', `ips[${i}].address ${JSON.stringify(ip.address)} is not in CIDR form`))
    if (ip.gateway !== undefined) {
      if (!isIP(ip.gateway))
        out.push(problem('P46', 'should', `ips[${i}].gateway ${JSON.stringify(ip.gateway)} is not an IP`))
      else if (cidr && (String(ip.gateway).includes(':') ? 6 : 4) !== cidr.family)
        out.push(problem('P46', 'should', `ips[${i}].gateway is not the address's family`))
    }
    if (ip.interface !== undefined) {
      if (ctx.role === 'ipam') out.push(problem('P54', 'must', `ips[${i}].interface is set in an IPAM result`))
      else if (!Number.isInteger(ip.interface) || (ip.interface as number) < -1)
        out.push(problem('P47', 'must', `ips[${i}].interface ${JSON.stringify(ip.interface)} is not an index`))
      else if (ip.interface === -1) out.push(problem('P47', 'should', `ips[${i}].interface is -1`))
      else if ((ip.interface as number) >= listed.length)
        out.push(
          problem('P47', 'must', `ips[${i}].interface ${ip.interface} is out of range (${listed.length} interfaces)`),
        )
    } else if (ctx.role === 'interface') out.push(problem('P47', 'should', `ips[${i}] has no interface index`))
    if (hasIpVersionField(ctx.version)) {
      const want = cidr ? String(cidr.family) : undefined
      if (ip.version === undefined)
        out.push(problem('P48', 'must', `ips[${i}] has no version; ${ctx.version} requires "4" or "6"`))
      else if (want && ip.version !== want)
        out.push(
          problem('P48', 'must', `ips[${i}].version ${valueText(ip.version)} does not match ${valueText(ip.address)}`),
        )
    } else if (ip.version !== undefined)
      out.push(problem('P48', 'must', `ips[${i}] has version, which ${ctx.version} removed`))
  })
  const routes = r.routes === undefined || r.routes === null ? [] : listOfObjects(r.routes, 'routes', out)
  routes.forEach((rt, i) => {
    if (!rt) return
    if (!isCIDR(rt.dst)) out.push(problem('P49', 'must', `routes[${i}].dst ${JSON.stringify(rt.dst)} is not CIDR`))
    if (rt.gw !== undefined && !isIP(rt.gw))
      out.push(problem('P49', 'must', `routes[${i}].gw ${JSON.stringify(rt.gw)} is not an IP`))
    for (const k of ['mtu', 'advmss', 'priority', 'table', 'scope'])
      if (rt[k] !== undefined && (!Number.isInteger(rt[k]) || (rt[k] as number) < 0))
        out.push(problem('P49', 'must', `routes[${i}].${k} is not an unsigned integer`))
  })
  if (r.dns !== undefined) {
    const dns = r.dns
    if (!isObject(dns)) out.push(problem('P51', 'should', 'dns is not an object'))
    else {
      if (dns.nameservers !== undefined && !(Array.isArray(dns.nameservers) && dns.nameservers.every(isIP)))
        out.push(problem('P51', 'should', 'dns.nameservers is not a list of IPs'))
      for (const k of ['search', 'options'])
        if (
          dns[k] !== undefined &&
          !(Array.isArray(dns[k]) && (dns[k] as unknown[]).every((s) => typeof s === 'string'))
        )
          out.push(problem('P51', 'should', `dns.${k} is not a list of strings`))
      if (dns.domain !== undefined && typeof dns.domain !== 'string')
        out.push(problem('P51', 'should', 'dns.domain is not a string'))
    }
  }
  return out
}
