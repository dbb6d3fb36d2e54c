/** CNI wire types (SPEC.md §1 configuration, §5 results and errors), kept as plain JSON shapes. */

export type Json = null | boolean | number | string | Json[] | {[key: string]: Json}
export type JsonObject = {[key: string]: Json}

/** A plugin configuration object from a network configuration list (SPEC §1 "Plugin configuration objects"). */
export interface PluginConf extends JsonObject {
  type: string
}

/** A network configuration list, after loading (and up-conversion from a single .conf). */
export interface NetConfList {
  cniVersion?: string
  cniVersions?: string[]
  name: string
  disableCheck: boolean
  disableGC: boolean
  loadOnlyInlinedPlugins: boolean
  plugins: PluginConf[]
  /** The exact bytes loaded; libcni caches these (base64) and re-uses them for DEL. */
  bytes: string
  /** Where it came from, for messages. */
  source: string
  /** Every top-level key as loaded (unknown keys kept, R5). */
  raw: JsonObject
}

export interface CniInterface {
  name: string
  mac?: string
  mtu?: number
  sandbox?: string
  socketPath?: string
  pciID?: string
}

export interface CniIpConfig {
  address: string
  gateway?: string
  interface?: number
}

export interface CniRoute {
  dst: string
  gw?: string
  mtu?: number
  advmss?: number
  priority?: number
  table?: number
  scope?: number
}

export interface CniDns {
  nameservers?: string[]
  domain?: string
  search?: string[]
  options?: string[]
}

/** The result in its 1.1.0 form: cnidbg's canonical in-memory shape, converted to and from every version. */
export interface CanonicalResult {
  cniVersion: string
  interfaces: CniInterface[]
  ips: CniIpConfig[]
  routes: CniRoute[]
  dns: CniDns
}

/** SPEC §5 Error. Go plugins omit cniVersion (checklist §1.7 item 7). */
export interface CniErrorObject {
  cniVersion?: string
  code: number
  msg: string
  details?: string
}

/** Well-known error codes (SPEC §5 "Error", CONVENTIONS). */
export const CNI_ERROR_CODES: Record<number, string> = {
  1: 'incompatible CNI version',
  2: 'unsupported field in network configuration',
  3: 'container unknown or does not exist',
  4: 'invalid necessary environment variables',
  5: 'I/O failure',
  6: 'failed to decode content',
  7: 'invalid network config',
  11: 'try again later',
  50: 'plugin not available',
  51: 'plugin not available, existing containers may have limited connectivity',
}

export type Verb = 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS' | 'VERSION'

/** One attachment's parameters (SPEC §3 "Attachment Parameters"). */
export interface RuntimeConf {
  containerId: string
  netns: string
  ifname: string
  /** CNI_ARGS pairs in order. */
  args: Array<[string, string]>
  /** Capability args (CAP_ARGS); each plugin gets those it declares in `capabilities` (SPEC §3 runtimeConfig). */
  capabilityArgs: JsonObject
}

export interface Attachment {
  containerID: string
  ifname: string
}
