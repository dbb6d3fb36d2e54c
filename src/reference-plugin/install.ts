import {chmodSync, copyFileSync, existsSync, linkSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import {EnvironmentError, UsageError} from '../core/errors.js'
import {withFront} from './front.js'
import {parseCIDR} from '../core/ip.js'
import {mkdirParents} from '../process/safe-fs.js'

export interface RefInstallOptions {
  binDir: string
  confDir: string
  /** A fixed pod CIDR for this node (written as ipam.subnet). Exclusive with subnetFile. */
  subnet?: string
  /** The node daemon's subnet file (ipam.subnetFile); the default when neither is given. */
  subnetFile?: string
  name: string
  mtu?: number
  /** Install the single-executable build (no Node needed on the node) instead of the JS bundles. */
  sea: boolean
  /** Where the built plugins are; default <package>/dist/plugins. */
  pluginsDir?: string
}

export interface RefInstallResult {
  binDir: string
  conflist: string
  executables: string[]
  sea: boolean
  /** The network configuration list written to `conflist`. */
  config: Record<string, unknown>
}

const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/
export const PLUGIN_NAMES = ['cnidbg-ref', 'cnidbg-ipam'] as const

/** <package root>/dist/plugins, found from this file in src/ (tests) or dist/ (the installed CLI). */
export function defaultPluginsDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'plugins')
}

/**
 * The conflist: cnidbg-ref with cnidbg-ipam, then portmap for hostPort (flannel's shape). cniVersion
 * 1.0.0 because Debian's portmap does not speak 1.1.0 yet, and a runtime picks one version per list.
 */
export function buildConflist(
  o: Pick<RefInstallOptions, 'name' | 'subnet' | 'subnetFile' | 'mtu'>,
): Record<string, unknown> {
  const ipam: Record<string, unknown> = {type: 'cnidbg-ipam'}
  if (o.subnet) ipam.subnet = o.subnet
  else if (o.subnetFile) ipam.subnetFile = o.subnetFile
  return {
    cniVersion: '1.0.0',
    name: o.name,
    plugins: [
      {type: 'cnidbg-ref', ...(o.mtu ? {mtu: o.mtu} : {}), ipam},
      {type: 'portmap', capabilities: {portMappings: true}},
    ],
  }
}

function validate(o: RefInstallOptions): void {
  if (!NETWORK_NAME.test(o.name)) {
    throw new UsageError(`Invalid network name "${o.name}".`, {
      code: 'INVALID_NAME',
      suggestions: ['Use letters, digits, "_", "." and "-", starting with a letter or digit, e.g. --name cnidbg'],
    })
  }
  if (o.subnet && o.subnetFile) {
    throw new UsageError('--subnet and --subnet-file are exclusive.', {
      code: 'EXCLUSIVE_FLAGS',
      suggestions: ['Give --subnet for a fixed pod CIDR, or --subnet-file for the node daemon’s file'],
    })
  }
  const c = o.subnet ? parseCIDR(o.subnet) : undefined
  if (o.subnet && (!c || (c.value & ((1n << BigInt((c.family === 4 ? 32 : 128) - c.prefix)) - 1n)) !== 0n)) {
    throw new UsageError(`--subnet ${o.subnet} is not a network prefix.`, {
      code: 'INVALID_SUBNET',
      suggestions: ['Give the network address in CIDR form, e.g. --subnet 10.244.1.0/24'],
    })
  }
  if (o.mtu !== undefined && (o.mtu < 68 || o.mtu > 65535)) {
    throw new UsageError(`--mtu ${o.mtu} is out of range.`, {
      code: 'INVALID_MTU',
      suggestions: ['Use 68–65535, e.g. --mtu 1450'],
    })
  }
}

/**
 * Copies via a temp file and rename(2), so a runtime running the old binary never sees half a file. A
 * script's `#!` line names the Node that runs this install: a runtime may start plugins with no PATH,
 * and `/usr/bin/env node` would cost an extra exec on every ADD.
 */
function place(src: string, dest: string): void {
  const tmp = `${dest}.cnidbg-tmp-${process.pid}`
  const text = readFileSync(src)
  const eol = text.indexOf(10)
  if (text.subarray(0, 2).toString() === '#!' && /node/.test(text.subarray(0, eol).toString())) {
    writeFileSync(tmp, Buffer.concat([Buffer.from(`#!${process.execPath}`), text.subarray(eol)]))
  } else {
    copyFileSync(src, tmp)
  }
  chmodSync(tmp, 0o755)
  renameSync(tmp, dest)
}

/** Writes `text` to `dest` the same way. */
function placeText(text: string, dest: string): void {
  const tmp = `${dest}.cnidbg-tmp-${process.pid}`
  writeFileSync(tmp, text, {mode: 0o755})
  chmodSync(tmp, 0o755)
  renameSync(tmp, dest)
}

/** Writes cnidbg-ref, cnidbg-ipam and <confDir>/10-<name>.conflist. */
export function installRefPlugins(o: RefInstallOptions): RefInstallResult {
  validate(o)
  const from = o.pluginsDir ?? defaultPluginsDir()
  const sources = o.sea ? [join(from, 'sea', 'cnidbg-plugins')] : PLUGIN_NAMES.map((n) => join(from, n))
  const missing = sources.filter((s) => !existsSync(s))
  if (missing.length > 0) {
    throw new EnvironmentError(`The built plugins are missing: ${missing.join(', ')}.`, {
      code: 'PLUGINS_NOT_BUILT',
      suggestions: o.sea
        ? [
            'Build the single executable: CNIDBG_BUILD_SEA=1 npm run build',
            'Or install the JS bundles (drop --sea; they need node on the node)',
          ]
        : ['Build them: npm run build'],
    })
  }
  mkdirParents(o.binDir)
  mkdirParents(o.confDir)
  const executables = PLUGIN_NAMES.map((n) => join(o.binDir, n))
  if (o.sea) {
    // One binary that dispatches on its name: cnidbg-ipam is a hard link to cnidbg-ref.
    place(sources[0]!, executables[0]!)
    const tmp = `${executables[1]}.cnidbg-tmp-${process.pid}`
    rmSync(tmp, {force: true})
    linkSync(executables[0]!, tmp)
    renameSync(tmp, executables[1]!)
  } else {
    // cnidbg-ref's shell front names the Node to run (front.ts): this one.
    placeText(withFront(process.execPath, readFileSync(sources[0]!, 'utf8')), executables[0]!)
    place(sources[1]!, executables[1]!)
  }
  const config = buildConflist(o)
  const conflist = join(o.confDir, `10-${o.name}.conflist`)
  const tmp = `${conflist}.cnidbg-tmp-${process.pid}`
  writeFileSync(tmp, JSON.stringify(config, null, 2) + '\n', {mode: 0o644})
  renameSync(tmp, conflist)
  return {binDir: o.binDir, conflist, executables, sea: o.sea, config}
}
