/**
 * The file the IPAM plugin reads to learn this node's pod subnet, like flannel's
 * /run/flannel/subnet.env (pkg/subnet/subnet.go WriteSubnetFile). Three KEY=VALUE lines; written
 * atomically (temp file in the same directory, then rename) so a plugin never reads half a file.
 */
import {readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {basename, dirname, join} from 'node:path'

import {mkdirParents} from '../process/safe-fs.js'

export const DEFAULT_SUBNET_FILE = '/run/cnidbg/subnet.env'

export interface SubnetEnv {
  /** The whole cluster's pod network (CNIDBG_NETWORK), e.g. 10.244.0.0/16. */
  network: string
  /** This node's pod CIDR (CNIDBG_SUBNET), e.g. 10.244.1.0/24. */
  subnet: string
  /** MTU for pod interfaces (CNIDBG_MTU): the VTEP's in vxlan mode, the underlay's in host-gw. */
  mtu: number
}

export function renderSubnetFile(env: SubnetEnv): string {
  return `CNIDBG_NETWORK=${env.network}\nCNIDBG_SUBNET=${env.subnet}\nCNIDBG_MTU=${env.mtu}\n`
}

/** Parses the file (unknown keys and comments ignored); undefined when a required key is missing. */
export function parseSubnetFile(text: string): SubnetEnv | undefined {
  const vars: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line)
    if (m) vars[m[1]!] = m[2]!.trim()
  }
  const mtu = Number(vars.CNIDBG_MTU)
  if (!vars.CNIDBG_NETWORK || !vars.CNIDBG_SUBNET || !Number.isInteger(mtu) || mtu <= 0) return undefined
  return {network: vars.CNIDBG_NETWORK, subnet: vars.CNIDBG_SUBNET, mtu}
}

export function readSubnetFile(path: string): SubnetEnv | undefined {
  try {
    return parseSubnetFile(readFileSync(path, 'utf8'))
  } catch {
    return undefined
  }
}

/**
 * Writes the file if its content would change; returns whether it wrote. Same-directory temp file
 * + rename(2) is atomic on one filesystem: readers see the old or the new file, never a mix.
 */
export function writeSubnetFile(path: string, env: SubnetEnv): boolean {
  const text = renderSubnetFile(env)
  try {
    if (readFileSync(path, 'utf8') === text) return false
  } catch {
    // Missing: write it.
  }
  mkdirParents(dirname(path))
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`)
  try {
    writeFileSync(tmp, text, {mode: 0o644})
    renameSync(tmp, path)
  } catch (error) {
    rmSync(tmp, {force: true})
    throw error
  }
  return true
}
