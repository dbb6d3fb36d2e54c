import {
  listNetns,
  markerState,
  NETNS_PREFIX,
  orphanNetns,
  readMarkers,
  reapStale,
  requireEnvironment,
  type ReapReport,
} from '../netns/index.js'

export interface SandboxEntry {
  id: string
  state: 'live' | 'kept' | 'stale'
  label: string
  pid: number | null
  createdAt: string
  command: string
  netns: string[]
}

export interface SandboxListResult {
  sandboxes: SandboxEntry[]
  /** cnidbg- namespaces no marker claims (a crash before its marker was written). */
  orphans: string[]
}

export function listSandboxes(): SandboxListResult {
  const markers = readMarkers()
  const present = new Set(listNetns())
  return {
    orphans: orphanNetns(),
    sandboxes: markers.map((m) => ({
      command: m.command,
      createdAt: m.createdAt,
      id: m.id,
      label: m.label ?? '',
      netns: m.netns.filter((n) => present.has(n) && n.startsWith(NETNS_PREFIX)),
      pid: m.pid,
      state: markerState(m),
    })),
  }
}

export type SandboxGcResult = ReapReport

export function gcSandboxes(opts: {all: boolean}): Promise<SandboxGcResult> {
  requireEnvironment(['ip'])
  return reapStale({includeKept: opts.all})
}
