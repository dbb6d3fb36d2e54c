import {convertResult} from './result.js'
import type {Attachment, JsonObject, PluginConf, RuntimeConf} from './types.js'

/**
 * Deriving each plugin's request config (SPEC §3 "Deriving request configuration", R13–R19):
 * insert name and the selected cniVersion; runtimeConfig from the declared capabilities;
 * prevResult converted to that version; drop `capabilities` and `cni.dev/` keys.
 */
export function buildAttachmentRequest(
  plugin: PluginConf,
  opts: {name: string; cniVersion: string; rt: RuntimeConf; prevResult?: unknown},
): JsonObject {
  const req = buildPlainRequest(plugin, opts)
  const caps = plugin.capabilities
  const runtimeConfig: JsonObject = {}
  if (caps && typeof caps === 'object' && !Array.isArray(caps)) {
    for (const [cap, enabled] of Object.entries(caps)) {
      if (enabled === true && opts.rt.capabilityArgs[cap] !== undefined)
        runtimeConfig[cap] = opts.rt.capabilityArgs[cap]
    }
  }
  // R14: libcni omits runtimeConfig when no declared capability has a value.
  if (Object.keys(runtimeConfig).length > 0) req.runtimeConfig = runtimeConfig
  // R15/R19: prevResult in the request's own version.
  if (opts.prevResult !== undefined) req.prevResult = convertResult(opts.prevResult, opts.cniVersion)
  return req
}

/** GC request (SPEC §3 "Garbage-collecting a network", R17): no runtimeConfig/prevResult, the valid attachments instead. */
export function buildGcRequest(
  plugin: PluginConf,
  opts: {name: string; cniVersion: string; valid: Attachment[]},
): JsonObject {
  const req = buildPlainRequest(plugin, opts)
  const valid = opts.valid.map((a) => ({containerID: a.containerID, ifname: a.ifname}))
  req['cni.dev/valid-attachments'] = valid
  // libcni also sends the key's pre-rename spelling (checklist §1.5), for plugins built against spec-v1.1.0.
  req['cni.dev/attachments'] = valid
  return req
}

/** The plugin object with name and the selected version inserted: all a STATUS request carries. */
export function buildPlainRequest(plugin: PluginConf, opts: {name: string; cniVersion: string}): JsonObject {
  const req: JsonObject = {}
  for (const [k, v] of Object.entries(plugin)) {
    // R16: capabilities must not reach the plugin; R18: cni.dev/ keys are the runtime's, never passed through.
    if (k === 'capabilities' || k.startsWith('cni.dev/') || k === 'runtimeConfig' || k === 'prevResult') continue
    req[k] = v
  }
  req.cniVersion = opts.cniVersion
  req.name = opts.name
  return req
}
