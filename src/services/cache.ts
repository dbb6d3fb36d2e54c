import {UsageError} from '../core/errors.js'
import {
  type CachedAttachment,
  DEFAULT_CACHE_DIR,
  decodeConfig,
  listCacheEntries,
  readCacheEntry,
  removeCacheEntry,
} from '../runtime/cache.js'
import {NAME_RE} from '../runtime/conf.js'
import {toCanonical} from '../runtime/result.js'
import type {JsonObject} from '../runtime/types.js'

export interface CacheRow {
  network: string
  containerId: string
  ifname: string
  netns: string
  ips: string[]
  cniVersion: string
  file: string
  modified: string
  legacy: boolean
}

export interface CacheListResult {
  cacheDir: string
  entries: CacheRow[]
}

const row = (c: CachedAttachment): CacheRow => {
  const result = c.entry.result ? toCanonical(c.entry.result) : undefined
  return {
    cniVersion: result?.cniVersion ?? '',
    containerId: c.entry.containerId,
    file: c.file,
    ifname: c.entry.ifName,
    ips: result?.ips.map((i) => i.address) ?? [],
    legacy: c.legacy,
    modified: c.modified,
    netns: c.entry.netns ?? '',
    network: c.entry.networkName,
  }
}

export function cacheList(opts: {cacheDir?: string; network?: string}): CacheListResult {
  const cacheDir = opts.cacheDir ?? DEFAULT_CACHE_DIR
  return {cacheDir, entries: listCacheEntries(cacheDir, opts.network).map(row)}
}

export interface CacheShowResult extends CacheRow {
  config?: JsonObject
  cniArgs: Array<[string, string]>
  capabilityArgs: JsonObject
  result?: JsonObject
}

/**
 * The three names make one file name under results/ (libcni's layout). libcni writes entries only for
 * names that pass its own checks (SPEC §1 network name, §3 container ID and interface name), so a
 * name that does not is refused: one holding '/' or '..' would reach a file outside the cache.
 */
function checkKey(opts: {network: string; containerId: string; ifname: string}): void {
  const bad = (what: string, value: string, rule: string) =>
    new UsageError(`The ${what} ${JSON.stringify(value)} is invalid: ${rule}.`, {
      code: 'INVALID_CACHE_KEY',
      suggestions: ['List the cached attachments and their names: cnidbg cache list'],
    })
  if (!NAME_RE.test(opts.network)) throw bad('network name', opts.network, `it must match ${NAME_RE.source}`)
  if (!NAME_RE.test(opts.containerId)) throw bad('container ID', opts.containerId, `it must match ${NAME_RE.source}`)
  const i = opts.ifname
  if (!i || i.length > 15 || i === '.' || i === '..' || /[/:\s]/.test(i))
    throw bad('interface name', i, "1–15 characters, no '/', ':' or spaces, not . or ..")
}

function find(opts: {cacheDir?: string; network: string; containerId: string; ifname: string}): CachedAttachment {
  checkKey(opts)
  const cacheDir = opts.cacheDir ?? DEFAULT_CACHE_DIR
  const found = readCacheEntry(cacheDir, opts.network, opts.containerId, opts.ifname)
  if (!found)
    throw new UsageError(`No cached attachment ${opts.network}/${opts.containerId}/${opts.ifname} in ${cacheDir}.`, {
      code: 'CACHE_ENTRY_NOT_FOUND',
      suggestions: [`List what is there: cnidbg cache list --cache-dir ${cacheDir}`],
    })
  return found
}

export function cacheShow(opts: {
  cacheDir?: string
  network: string
  containerId: string
  ifname: string
}): CacheShowResult {
  const found = find(opts)
  let config: JsonObject | undefined
  try {
    config = found.entry.config ? (JSON.parse(decodeConfig(found.entry.config)) as JsonObject) : undefined
  } catch {
    config = undefined
  }
  return {
    ...row(found),
    capabilityArgs: found.entry.capabilityArgs ?? {},
    cniArgs: found.entry.cniArgs ?? [],
    config,
    result: found.entry.result,
  }
}

export function cacheRm(opts: {cacheDir?: string; network: string; containerId: string; ifname: string}): {
  removed: string
} {
  const found = find(opts)
  removeCacheEntry(opts.cacheDir ?? DEFAULT_CACHE_DIR, opts.network, opts.containerId, opts.ifname)
  return {removed: found.file}
}
