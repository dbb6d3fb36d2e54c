import {ip, Sandbox} from '../netns/index.js'
import type {PluginConf} from '../runtime/types.js'

/** The link kind each upstream plugin makes, where a kernel may lack it. */
const LINK_KIND: Record<string, {kind: string; args: (name: string, master: string) => string[]}> = {
  ipvlan: {args: (n, m) => ['link', 'add', n, 'link', m, 'type', 'ipvlan', 'mode', 'l2'], kind: 'ipvlan'},
  vlan: {args: (n, m) => ['link', 'add', 'link', m, 'name', n, 'type', 'vlan', 'id', '2'], kind: 'vlan'},
  vrf: {args: (n) => ['link', 'add', n, 'type', 'vrf', 'table', '2'], kind: 'vrf'},
}

/**
 * Why this kernel cannot run the plugins at all, or undefined: ipvlan, vlan and vrf make links of
 * kinds a kernel may be built without. Each kind is tried once in a throwaway sandbox; a kernel that
 * answers "Unknown device type" skips every check with that reason instead of failing them.
 */
export async function missingKernelSupport(plugins: readonly PluginConf[]): Promise<string | undefined> {
  const needed = [...new Set(plugins.map((p) => p.type))].filter((t) => t in LINK_KIND)
  if (needed.length === 0) return undefined
  const sb = await Sandbox.create({label: 'conformance kernel probe'})
  try {
    const ns = sb.host.name
    await ip(['link', 'add', 'cnidbg-kp0', 'type', 'veth', 'peer', 'name', 'cnidbg-kp1'], ns)
    for (const type of needed) {
      const {args, kind} = LINK_KIND[type]!
      const argv = args('cnidbg-kp2', 'cnidbg-kp0')
      const error = await ip(argv, ns).then(
        () => undefined,
        (e: Error) => e.message,
      )
      if (error !== undefined && /unknown device type|not supported/i.test(error))
        return `this kernel has no ${kind} links, which ${type} makes (ip ${argv.join(' ')}: ${error.split('\n')[0]!.replace(/^.*?: /, '')})`
      await ip(['link', 'del', 'cnidbg-kp2'], ns).catch(() => {})
    }
    return undefined
  } finally {
    await sb.dispose()
  }
}
