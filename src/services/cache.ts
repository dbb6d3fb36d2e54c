import {UsageError} from '../core/errors.js'
import {
  type CachedAttachment,
  DEFAULT_CACHE_DIR,
  decodeConfig,
  listCacheEntries,
  readCacheEntry,
  removeCacheEntry,
} from '../runtime/cache.js'
import {validateAttachment, validateNetworkName} from '../runtime/conf.js'
import {valueText} from '../runtime/json-output.js'
import {toCanonical} from '../runtime/result.js'
import type {JsonObject} from '../runtime/types.js'
import {parseJson} from '../core/json.js'

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
    ips: result?.ips.map((i) => valueText(i.address)) ?? [],
    legacy: c.legacy,
    modified: c.modified,
    // Another runtime's entry (or a planted one): only its names are checked to be strings (parseEntry).
    netns: typeof c.entry.netns === 'string' ? c.entry.netns : '',
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
 * names that pass its checks, so a name that does not is refused: one holding '/' or '..' would reach
 * a file outside the cache.
 */
function checkKey(opts: {network: string; containerId: string; ifname: string}): void {
  validateNetworkName(opts.network)
  validateAttachment(opts.containerId, opts.ifname)
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
    config = found.entry.config ? (parseJson(decodeConfig(found.entry.config)) as JsonObject) : undefined
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
