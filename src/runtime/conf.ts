import {readdirSync, statSync} from 'node:fs'
import {extname, join} from 'node:path'

import {UsageError} from '../core/errors.js'
import type {JsonObject, NetConfList, PluginConf} from './types.js'
import {compareVersions, CURRENT_VERSION, isSpecVersion} from './versions.js'
import {parseJson as parseJsonText} from '../core/json.js'
import {readFileBounded, type SafeFsError} from '../process/safe-fs.js'

/**
 * Loading network configuration the way libcni does (libcni/conf.go; checklist R1–R6):
 * from a file, from stdin, or by network name from a config dir.
 */

export const DEFAULT_NETCONFPATH = '/etc/cni/net.d'
// SPEC §1 "Configuration format" and §3 "Attachment Parameters": names and container IDs start alphanumeric.
export const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/
const SEMVER_RE = /^\d+\.\d+\.\d+$/

/**
 * A network name as SPEC §1 allows it. It becomes part of file names (the result cache, IPAM stores),
 * so one that does not match is refused wherever a name comes in, not only in a config.
 */
export function validateNetworkName(name: string): void {
  if (!NAME_RE.test(name))
    throw new UsageError(
      `Network name "${name}" is invalid: it must start with a letter or digit, then letters, digits, _ . -`,
      {code: 'INVALID_NETWORK_NAME'},
    )
}

/** The container ID and interface name of an attachment (SPEC §3), checked before they are used. */
export function validateAttachment(containerId: string, ifname: string): void {
  // SPEC §3 "Attachment Parameters" (R9): checked before any plugin runs.
  if (!NAME_RE.test(containerId))
    throw new UsageError(
      `Container ID "${containerId}" is invalid: it must start with a letter or digit, then letters, digits, _ . -`,
      {code: 'INVALID_CONTAINER_ID'},
    )
  if (!ifname || ifname.length > 15 || ifname === '.' || ifname === '..' || /[/:\s]/.test(ifname))
    throw new UsageError(`Interface name "${ifname}" is invalid: 1–15 characters, no '/', ':' or spaces.`, {
      code: 'INVALID_IFNAME',
    })
}

function configError(message: string, source: string, suggestions: string[] = []): UsageError {
  return new UsageError(`${source}: ${message}`, {code: 'INVALID_CONFIG', suggestions})
}

/** libcni accepts a JSON bool or the strings "true"/"false" for the list's boolean flags. */
function boolFlag(raw: JsonObject, key: string, source: string): boolean {
  const v = raw[key]
  if (v === undefined || v === null) return false
  if (typeof v === 'boolean') return v
  if (v === 'true' || v === 'false') return v === 'true'
  throw configError(`"${key}" must be true or false, got ${JSON.stringify(v)}`, source)
}

function parseJson(text: string, source: string): JsonObject {
  let parsed: unknown
  try {
    parsed = parseJsonText(text)
  } catch (error) {
    throw configError(`not valid JSON (${(error as Error).message})`, source, ['Check the file with: jq . ' + source])
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw configError('must be a JSON object', source)
  return parsed as JsonObject
}

function validatePlugin(p: unknown, i: number, source: string): PluginConf {
  if (!p || typeof p !== 'object' || Array.isArray(p)) throw configError(`plugins[${i}] is not an object`, source)
  const plugin = p as JsonObject
  if (typeof plugin.type !== 'string' || plugin.type === '') throw configError(`plugins[${i}] has no "type"`, source)
  // SPEC §1 plugin objects / R4: type is a binary name looked up in CNI_PATH, never a path.
  if (plugin.type.includes('/'))
    throw configError(`plugins[${i}].type "${plugin.type}" contains a path separator`, source, [
      'Use the binary name and put its directory in --cni-path / CNI_PATH.',
    ])
  return plugin as PluginConf
}

/** Parses and validates a network configuration list (or up-converts a single plugin config). */
export function parseNetConf(text: string, source: string): NetConfList {
  const raw = parseJson(text, source)
  const isList = Array.isArray(raw.plugins)
  // A single .conf is up-converted into a one-plugin list (libcni ConfListFromConf; deprecated since 1.0).
  const listRaw: JsonObject = isList
    ? raw
    : {cniVersion: raw.cniVersion ?? null, name: raw.name ?? null, plugins: [raw]}
  if (!isList && raw.plugins !== undefined) throw configError('"plugins" must be a list', source)
  if (typeof listRaw.name !== 'string' || listRaw.name === '') throw configError('"name" is missing', source)
  if (!NAME_RE.test(listRaw.name))
    throw configError(
      `network name "${listRaw.name}" is invalid: it must match ${NAME_RE.source} (it becomes a file name)`,
      source,
    )
  const plugins = (listRaw.plugins as unknown[]).map((p, i) => validatePlugin(p, i, source))
  if (plugins.length === 0) throw configError('"plugins" is empty', source)
  const cniVersion = listRaw.cniVersion
  if (
    cniVersion !== undefined &&
    cniVersion !== null &&
    (typeof cniVersion !== 'string' || !SEMVER_RE.test(cniVersion))
  )
    throw configError(`"cniVersion" ${JSON.stringify(cniVersion)} is not a version like 1.0.0`, source)
  let cniVersions: string[] | undefined
  if (listRaw.cniVersions !== undefined) {
    if (
      !Array.isArray(listRaw.cniVersions) ||
      !listRaw.cniVersions.every((v) => typeof v === 'string' && SEMVER_RE.test(v))
    )
      throw configError('"cniVersions" must be a list of versions like "1.1.0"', source)
    cniVersions = listRaw.cniVersions as string[]
  }
  if (!cniVersion && !cniVersions?.length) throw configError('no "cniVersion" (or "cniVersions")', source)
  const loadOnlyInlinedPlugins = boolFlag(listRaw, 'loadOnlyInlinedPlugins', source)
  return {
    bytes: text,
    cniVersion: typeof cniVersion === 'string' ? cniVersion : undefined,
    cniVersions,
    disableCheck: boolFlag(listRaw, 'disableCheck', source),
    disableGC: boolFlag(listRaw, 'disableGC', source),
    loadOnlyInlinedPlugins,
    name: listRaw.name,
    plugins,
    raw: listRaw,
    source,
  }
}

/** The largest config read, as from stdin (src/cli/stdin.ts). */
const MAX_CONF_BYTES = 64 * 1024 * 1024

/**
 * A config file: the one the user named (`pipe`: a shell's `<(…)` works), or one a config dir lists,
 * where a FIFO or a device is skipped without blocking or reading without end (src/process/safe-fs.ts).
 */
function readConf(path: string, pipe: boolean): string {
  try {
    return readFileBounded(path, MAX_CONF_BYTES, {pipe})
  } catch (error) {
    const e = error as Partial<SafeFsError>
    throw new UsageError(`Can't read config ${path}: ${e.reason ?? e.code ?? e.message}`, {
      code: 'CONFIG_NOT_FOUND',
      suggestions: ['Check the path, or load by network name from a config dir (NETCONFPATH).'],
    })
  }
}

export function loadConfFile(path: string, opts: {listed?: boolean} = {}): NetConfList {
  return parseNetConf(readConf(path, !opts.listed), path)
}

function configFiles(dir: string, exts: string[]): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => exts.includes(extname(f)))
      .sort()
      .map((f) => join(dir, f))
  } catch {
    return []
  }
}

/** Plugins from `<dir>/<network>/*.conf`, appended after the inlined ones (SPEC §1, R6). */
function aggregatedPlugins(dir: string, name: string): PluginConf[] {
  const sub = join(dir, name)
  try {
    if (!statSync(sub).isDirectory()) return []
  } catch {
    return []
  }
  return configFiles(sub, ['.conf']).map((f, i) => validatePlugin(parseJson(readConf(f, false), f), i, f))
}

/**
 * Finds a network by name in a config dir, like libcni LoadNetworkConf: `.conflist` files sorted,
 * then legacy `.conf`/`.json` up-converted; then the per-network plugin folder unless
 * loadOnlyInlinedPlugins is set.
 */
export function loadConfByName(dir: string, name: string): NetConfList {
  const candidates = [...configFiles(dir, ['.conflist']), ...configFiles(dir, ['.conf', '.json'])]
  for (const file of candidates) {
    let list: NetConfList
    try {
      list = loadConfFile(file, {listed: true})
    } catch {
      continue // libcni skips files it can't parse while searching by name
    }
    if (list.name !== name) continue
    if (!list.loadOnlyInlinedPlugins) list.plugins = [...list.plugins, ...aggregatedPlugins(dir, name)]
    return list
  }
  const known = candidates.flatMap((f) => {
    try {
      return [loadConfFile(f, {listed: true}).name]
    } catch {
      return []
    }
  })
  throw new UsageError(`No network named "${name}" in ${dir}.`, {
    code: 'NETWORK_NOT_FOUND',
    suggestions: [
      known.length > 0 ? `Networks there: ${[...new Set(known)].join(', ')}` : `No valid config files in ${dir}.`,
      'Set NETCONFPATH to another dir, or pass --conf FILE.',
    ],
  })
}

/**
 * SPEC §1 "Version considerations" (R2): the highest of cniVersion ∪ cniVersions that we support.
 * Versions newer than ours are skipped, as libcni does.
 */
export function selectVersion(list: Pick<NetConfList, 'cniVersion' | 'cniVersions' | 'source'>): string {
  const all = [...(list.cniVersion ? [list.cniVersion] : []), ...(list.cniVersions ?? [])]
  const supported = all.filter((v) => isSpecVersion(v) && compareVersions(v, CURRENT_VERSION) <= 0)
  if (supported.length === 0)
    throw new UsageError(`${list.source}: no supported CNI version in ${JSON.stringify(all)}.`, {
      code: 'UNSUPPORTED_VERSION',
      suggestions: ['cnidbg speaks CNI 0.1.0 to 1.1.0; set "cniVersion" to one of them.'],
    })
  return supported.sort(compareVersions).at(-1) as string
}
