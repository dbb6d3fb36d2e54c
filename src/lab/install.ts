/**
 * Puts the reference plugins on a lab node exactly as `cnidbg ref install` does on a real node:
 * cnidbg-ref and cnidbg-ipam in the node's CNI bin dir (copies, so a rebuild of dist/ can't pull them
 * away from a running lab) and a conflist whose IPAM reads the subnet file the node's daemon writes.
 */
import {existsSync, mkdirSync} from 'node:fs'
import {join} from 'node:path'

import {EnvironmentError} from '../core/errors.js'
import {installRefPlugins, PLUGIN_NAMES} from '../reference-plugin/install.js'
import {NETWORK_NAME} from './names.js'
import type {LabNodeState} from './state.js'

/** Where Debian's upstream plugins live (portmap, chained after cnidbg-ref as on a real node). */
export const SYSTEM_CNI_DIR = '/usr/lib/cni'

export function checkPluginDir(pluginDir: string): void {
  const missing = PLUGIN_NAMES.filter((p) => !existsSync(join(pluginDir, p)))
  if (missing.length > 0) {
    throw new EnvironmentError(
      `The reference plugins are not built: ${missing.map((p) => join(pluginDir, p)).join(', ')} missing.`,
      {
        code: 'PLUGINS_NOT_BUILT',
        suggestions: ['Build them: npm run build (writes dist/plugins/cnidbg-ref and cnidbg-ipam)'],
      },
    )
  }
}

/** Creates the node's dirs and installs the plugins and its conflist (`<confDir>/10-cnidbg.conflist`). */
export function installNodePlugins(node: LabNodeState, pluginDir: string): void {
  for (const d of [node.varLibCni, node.runCni]) mkdirSync(d, {recursive: true, mode: 0o755})
  const r = installRefPlugins({
    binDir: node.binDir,
    confDir: node.confDir,
    subnetFile: node.subnetFile,
    name: NETWORK_NAME,
    sea: false,
    pluginsDir: pluginDir,
  })
  if (r.conflist !== node.confFile)
    throw new Error(`ref install wrote ${r.conflist}, the lab expected ${node.confFile}`)
}
