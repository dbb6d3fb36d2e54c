/**
 * What the daemon keeps on disk between runs, per node (several lab nodes may share one state dir):
 * `<state-dir>/<node>/vtep.json` (the VTEP MAC, so a restart does not invalidate every peer's
 * neighbour and FDB entries, as flannel learned to do) and `<state-dir>/<node>/listen` (where /healthz and /diag
 * are served, for `trace` and the lab to find).
 */
import {readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {normalizeMac} from '../core/mac.js'
import {mkdirParents} from '../process/safe-fs.js'

export const DEFAULT_STATE_DIR = '/var/lib/cnidbg'

/** Kubernetes node names are DNS subdomains; checking keeps them safe as a path component. */
export function isValidNodeName(name: string): boolean {
  return name.length > 0 && name.length <= 253 && /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name)
}

export function nodeStateDir(stateDir: string, node: string): string {
  if (!isValidNodeName(node)) throw new Error(`invalid node name ${JSON.stringify(node)}`)
  return join(stateDir, node)
}

function writeAtomic(path: string, text: string, mode = 0o600): void {
  const tmp = `${path}.${process.pid}.tmp`
  try {
    writeFileSync(tmp, text, {mode})
    renameSync(tmp, path)
  } catch (error) {
    rmSync(tmp, {force: true})
    throw error
  }
}

export interface VtepState {
  vni: number
  mac: string
}

export function readVtepState(dir: string): VtepState | undefined {
  try {
    const raw = JSON.parse(readFileSync(join(dir, 'vtep.json'), 'utf8')) as Partial<VtepState>
    const mac = normalizeMac(String(raw.mac ?? ''))
    if (!mac || typeof raw.vni !== 'number') return undefined
    return {vni: raw.vni, mac}
  } catch {
    return undefined
  }
}

export function writeVtepState(dir: string, state: VtepState): void {
  mkdirParents(dir, 0o700)
  writeAtomic(join(dir, 'vtep.json'), JSON.stringify(state) + '\n')
}

export function writeListenFile(dir: string, address: string): string {
  mkdirParents(dir, 0o700)
  const path = join(dir, 'listen')
  writeAtomic(path, address + '\n', 0o644)
  return path
}

export function readListenFile(dir: string): string | undefined {
  try {
    return readFileSync(join(dir, 'listen'), 'utf8').trim() || undefined
  } catch {
    return undefined
  }
}

export function removeListenFile(dir: string): void {
  rmSync(join(dir, 'listen'), {force: true})
}
