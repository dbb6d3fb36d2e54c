import type {PluginRole} from '../checks/types.js'
import {Sandbox} from '../netns/index.js'
import {addNetworkList, delNetworkList, type RuntimeContext} from '../runtime/ops.js'
import {toCanonical} from '../runtime/result.js'
import type {NetConfList, RuntimeConf} from '../runtime/types.js'

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

/**
 * The role, from the config and, where it cannot tell, from what the plugin does. A lone plugin
 * without an ipam section may be a loopback plugin, which configures `lo` whatever CNI_IFNAME says:
 * one ADD (and its DEL) in a throwaway sandbox, at the version the config selects, asks it. A result that
 * names `lo` in the container and not CNI_IFNAME is a loopback plugin's. Every other shape of config
 * is decided by inferRole alone and costs nothing.
 */
export async function detectRole(list: NetConfList, cniPath: string[], timeoutMs: number): Promise<PluginRole> {
  const inferred = inferRole(list)
  if (inferred !== 'interface' || list.plugins.length !== 1 || list.plugins[0]!.ipam !== undefined) return inferred
  const sb = await Sandbox.create({label: 'conformance role probe'})
  try {
    const ctr = await sb.addNetns('probe')
    const rt: RuntimeConf = {
      args: [],
      capabilityArgs: {},
      containerId: `cnidbg-role-probe-${sb.id}`,
      ifname: 'eth0',
      netns: ctr.path,
    }
    const ctx: RuntimeContext = {cacheDir: `${sb.root}/cache`, cniPath, executor: sb.run.bind(sb), timeoutMs}
    const add = await addNetworkList(list, rt, ctx)
    await delNetworkList(list, rt, ctx)
    if (!add.ok) return inferred
    // What the plugin printed, not the runtime's copy converted to the config's version.
    const names = toCanonical(add.outcomes[0]?.value)
      .interfaces.filter((i) => i.sandbox)
      .map((i) => i.name)
    return names.includes('lo') && !names.includes(rt.ifname) ? 'loopback' : inferred
  } finally {
    await sb.dispose()
  }
}
