import {readFileSync} from 'node:fs'

/** Where the node daemon publishes this node's pod CIDR (like flannel's /run/flannel/subnet.env). */
export const DEFAULT_SUBNET_FILE = '/run/cnidbg/subnet.env'

/** The subnet file's settings: `CNIDBG_NETWORK=10.244.0.0/16`, `CNIDBG_SUBNET=10.244.1.0/24`, `CNIDBG_MTU=1450`. */
export interface SubnetFile {
  network?: string
  subnet?: string
  network6?: string
  subnet6?: string
  mtu?: number
}

/** Parses KEY=VALUE lines; blank lines, comments and unknown keys are ignored, values may be quoted. */
export function parseSubnetFile(text: string): SubnetFile {
  const kv = new Map<string, string>()
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (!line || line.startsWith('#')) continue
    const eq = line.indexOf('=')
    if (eq <= 0) continue
    kv.set(
      line.slice(0, eq).trim(),
      line
        .slice(eq + 1)
        .trim()
        .replace(/^"(.*)"$/, '$1'),
    )
  }
  const mtu = Number(kv.get('CNIDBG_MTU'))
  return {
    network: kv.get('CNIDBG_NETWORK') || undefined,
    subnet: kv.get('CNIDBG_SUBNET') || undefined,
    network6: kv.get('CNIDBG_NETWORK6') || undefined,
    subnet6: kv.get('CNIDBG_SUBNET6') || undefined,
    mtu: Number.isInteger(mtu) && mtu > 0 ? mtu : undefined,
  }
}

/** Reads the file; undefined when it does not exist yet (the daemon has not published this node's CIDR). */
export function readSubnetFile(path: string): SubnetFile | undefined {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  return parseSubnetFile(text)
}

export function formatSubnetFile(s: SubnetFile): string {
  const lines = [
    s.network && `CNIDBG_NETWORK=${s.network}`,
    s.subnet && `CNIDBG_SUBNET=${s.subnet}`,
    s.network6 && `CNIDBG_NETWORK6=${s.network6}`,
    s.subnet6 && `CNIDBG_SUBNET6=${s.subnet6}`,
    s.mtu && `CNIDBG_MTU=${s.mtu}`,
  ]
  return lines.filter(Boolean).join('\n') + '\n'
}
