import type {PluginRole} from '../checks/types.js'
import type {NetConfList} from '../runtime/types.js'

// Upstream meta plugins that only adjust what an earlier plugin made (CONVENTIONS "Chained Plugins").
const CHAINED_TYPES = new Set(['bandwidth', 'firewall', 'portmap', 'sbr', 'tuning', 'vrf'])
const IPAM_TYPES = new Set(['cnidbg-ipam', 'dhcp', 'host-local', 'static', 'whereabouts'])

/**
 * The role the suite tests a config in, when --role does not say: a list of several plugins is
 * tested as a whole (its first plugin makes the interface); a lone meta plugin is chained; a lone
 * config whose type is an IPAM plugin (or equals its ipam.type) is tested in the IPAM role.
 */
export function inferRole(list: NetConfList): PluginRole {
  if (list.plugins.length > 1) return 'interface'
  const p = list.plugins[0]!
  const ipamType = (p.ipam as {type?: string} | undefined)?.type
  if (IPAM_TYPES.has(p.type) || (ipamType !== undefined && ipamType === p.type)) return 'ipam'
  if (CHAINED_TYPES.has(p.type)) return 'chained'
  return 'interface'
}
