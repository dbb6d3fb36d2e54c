import {closeSync, constants, openSync, readdirSync, renameSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import type {JsonObject} from './types.js'
import {UsageError} from '../core/errors.js'
import {parseJson} from '../core/json.js'
import {mkdirParents, readBounded} from '../process/safe-fs.js'

/**
 * The result cache in libcni's format and place (R28–R29), so a cache written by containerd or
 * CRI-O on a live node is readable here, and ours is readable by them.
 */
export const DEFAULT_CACHE_DIR = '/var/lib/cni'

/**
 * The largest cache file read. An entry is a config and a result (cnidbg keeps at most 16 MiB of a
 * plugin's output); anything bigger, like a FIFO or a symlink in results/, is not libcni's and is
 * skipped, so `cache list` neither reads without end nor blocks on it (src/process/safe-fs.ts).
 */
const MAX_ENTRY_BYTES = 64 * 1024 * 1024

export interface CacheEntry {
  kind: 'cniCacheV1'
  containerId: string
  /** base64 of the exact network config list bytes (Go []byte JSON encoding). */
  config: string
  ifName: string
  networkName: string
  netns?: string
  cniArgs?: Array<[string, string]>
  capabilityArgs?: JsonObject
  result?: JsonObject
}

export interface CachedAttachment {
  file: string
  entry: CacheEntry
  /** The pre-cniCacheV1 format was the bare result; libcni still reads it. */
  legacy: boolean
  modified: string
}

export const resultsDir = (cacheDir: string): string => join(cacheDir, 'results')

export function cachePath(cacheDir: string, network: string, containerId: string, ifname: string): string {
  return join(resultsDir(cacheDir), `${network}-${containerId}-${ifname}`)
}

/** The longest file name Linux file systems take (NAME_MAX). */
const NAME_MAX = 255
/** What writeCacheEntry adds to the name while it writes: `.tmp-` and a pid (pid_max is at most 4194304). */
const TMP_SUFFIX_BYTES = '.tmp-'.length + 7

/**
 * Refuses an attachment whose cache file name would not fit in a file name. Called before any plugin
 * runs: found only when the result is written, the ADD has already been done and cannot be cached. A
 * container ID may be as long as NAME_RE allows, so a long one is legal and still too long here.
 */
export function checkCacheName(network: string, containerId: string, ifname: string): void {
  const bytes = Buffer.byteLength(`${network}-${containerId}-${ifname}`)
  const max = NAME_MAX - TMP_SUFFIX_BYTES
  if (bytes > max)
    throw new UsageError(
      `Container ID "${containerId.slice(0, 40)}…" (${containerId.length} characters) is too long: the result cache file NETWORK-CONTAINERID-IFNAME would be named with ${bytes} bytes, and at most ${max} fit in a file name.`,
      {
        code: 'INVALID_CONTAINER_ID',
        suggestions: [
          `Use a container ID of at most ${Math.max(1, containerId.length - (bytes - max))} characters with network ${network} and interface ${ifname}.`,
        ],
      },
    )
}

/** A JSON string as Go's encoding/json writes it: also escapes <, >, & and U+2028/U+2029. */
function goString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/**
 * A value as Go marshals a map[string]interface{}: object keys sorted (Go maps have no order, and
 * encoding/json sorts them), recursively. libcni's capabilityArgs and result are such maps.
 */
function goMarshal(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(goMarshal).join(',')}]`
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
    return `{${keys.map((k) => `${goString(k)}:${goMarshal(o[k])}`).join(',')}}`
  }
  if (typeof v === 'string') return goString(v)
  return JSON.stringify(v) ?? 'null'
}

/**
 * Writes an entry byte for byte as libcni cacheAdd does (R28–R29): dir 0700, file 0600, the
 * cachedInfo fields in struct order with empty ones omitted, no trailing newline. libcni stores the
 * result by marshalling the typed result (whose `dns` struct is never omitted) into a Go map, so
 * its keys come out sorted and `"dns":{}` is always there.
 */
export function writeCacheEntry(cacheDir: string, e: CacheEntry): string {
  const dir = resultsDir(cacheDir)
  mkdirParents(dir, 0o700)
  const fields = [
    `"kind":"cniCacheV1"`,
    `"containerId":${goString(e.containerId)}`,
    `"config":${goString(e.config)}`,
    `"ifName":${goString(e.ifName)}`,
    `"networkName":${goString(e.networkName)}`,
  ]
  if (e.netns) fields.push(`"netns":${goString(e.netns)}`)
  if (e.cniArgs?.length) fields.push(`"cniArgs":${goMarshal(e.cniArgs)}`)
  if (e.capabilityArgs && Object.keys(e.capabilityArgs).length > 0)
    fields.push(`"capabilityArgs":${goMarshal(e.capabilityArgs)}`)
  if (e.result) fields.push(`"result":${goMarshal({dns: {}, ...e.result})}`)
  const path = cachePath(cacheDir, e.networkName, e.containerId, e.ifName)
  const tmp = `${path}.tmp-${process.pid}`
  try {
    // A cache dir may be writable by others (--cache-dir anywhere, a runtime's own): a symlink planted
    // at the temp name must not have root write our entry through it. A leftover of an earlier
    // process with our pid is removed (rm takes the link, not its target); O_EXCL|O_NOFOLLOW refuses
    // whatever appears there after that.
    rmSync(tmp, {force: true})
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)
    try {
      writeFileSync(fd, `{${fields.join(',')}}`)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, path)
  } catch (error) {
    try {
      rmSync(tmp, {force: true})
    } catch {
      // The write's own error is the one to report.
    }
    throw error
  }
  return path
}

function parseEntry(
  file: string,
  text: string,
  names?: {network: string; containerId: string; ifname: string},
): CachedAttachment | undefined {
  let parsed: Record<string, unknown>
  try {
    parsed = parseJson(text) as Record<string, unknown>
  } catch {
    return undefined
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined
  const modified = (() => {
    try {
      return statSync(file).mtime.toISOString()
    } catch {
      return ''
    }
  })()
  if (parsed.kind === 'cniCacheV1') {
    // libcni GetCachedAttachments skips entries without ifName/networkName.
    if (
      typeof parsed.ifName !== 'string' ||
      typeof parsed.networkName !== 'string' ||
      typeof parsed.containerId !== 'string'
    )
      return undefined
    // The file name does not say which attachment it is: network a-b with container c and network a
    // with container b-c share one (libcni's layout). The names inside do; another's is not this one's.
    if (
      names &&
      (parsed.networkName !== names.network ||
        parsed.containerId !== names.containerId ||
        parsed.ifName !== names.ifname)
    )
      return undefined
    return {entry: parsed as unknown as CacheEntry, file, legacy: false, modified}
  }
  if (names && typeof parsed.cniVersion === 'string') {
    const entry: CacheEntry = {
      config: '',
      containerId: names.containerId,
      ifName: names.ifname,
      kind: 'cniCacheV1',
      networkName: names.network,
      result: parsed as JsonObject,
    }
    return {entry, file, legacy: true, modified}
  }
  return undefined
}

export function readCacheEntry(
  cacheDir: string,
  network: string,
  containerId: string,
  ifname: string,
): CachedAttachment | undefined {
  const file = cachePath(cacheDir, network, containerId, ifname)
  let text: string
  try {
    text = readBounded(file, MAX_ENTRY_BYTES)
  } catch {
    return undefined
  }
  return parseEntry(file, text, {containerId, ifname, network})
}

/**
 * Removes an attachment's entry, and never another attachment's that has the same file name (a DEL of
 * network a, container b-c leaves network a-b, container c cached).
 */
export function removeCacheEntry(cacheDir: string, network: string, containerId: string, ifname: string): void {
  const file = cachePath(cacheDir, network, containerId, ifname)
  if (entryOfAnother(file, {containerId, ifname, network})) return
  try {
    rmSync(file, {force: true})
  } catch (error) {
    // Nothing can be cached under a name too long for a file (checkCacheName), or where results/ is
    // not a directory: there is nothing to remove.
    const code = (error as NodeJS.ErrnoException).code
    if (code !== 'ENAMETOOLONG' && code !== 'ENOTDIR') throw error
  }
}

function entryOfAnother(file: string, names: {network: string; containerId: string; ifname: string}): boolean {
  let text: string
  try {
    text = readBounded(file, MAX_ENTRY_BYTES)
  } catch {
    return false
  }
  return parseEntry(file, text) !== undefined && parseEntry(file, text, names) === undefined
}

/** Every readable cniCacheV1 entry, optionally of one network (for GC and `cache list`). */
export function listCacheEntries(cacheDir: string, network?: string): CachedAttachment[] {
  let files: string[]
  try {
    files = readdirSync(resultsDir(cacheDir)).sort()
  } catch {
    return []
  }
  const out: CachedAttachment[] = []
  for (const f of files) {
    if (network && !f.startsWith(`${network}-`)) continue
    if (/\.tmp-\d+$/.test(f)) continue // our own half-written entry (see writeCacheEntry)
    const file = join(resultsDir(cacheDir), f)
    let text: string
    try {
      text = readBounded(file, MAX_ENTRY_BYTES)
    } catch {
      continue
    }
    const parsed = parseEntry(file, text)
    if (parsed && (!network || parsed.entry.networkName === network)) out.push(parsed)
  }
  return out
}

export const encodeConfig = (bytes: string): string => Buffer.from(bytes, 'utf8').toString('base64')
export const decodeConfig = (b64: string): string => Buffer.from(b64, 'base64').toString('utf8')
