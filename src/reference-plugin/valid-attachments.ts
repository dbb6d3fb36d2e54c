import {CniError, CODE} from './errors.js'
import type {Attachment} from './types.js'

/**
 * GC's list of attachments still in use, or undefined when the config has none (then nothing can be
 * called stale, checklist P97). The whole list is checked before GC removes anything: cnidbg-ref and
 * cnidbg-ipam read it alike, so a malformed entry can't get the veths removed and the addresses kept.
 */
export function validAttachments(conf: Record<string, unknown>): Attachment[] | undefined {
  // SPEC §2 GC (main): cni.dev/valid-attachments; the 1.1.0 tag called it cni.dev/attachments.
  const raw = conf['cni.dev/valid-attachments'] ?? conf['cni.dev/attachments']
  if (raw === undefined) return undefined
  if (!Array.isArray(raw))
    throw new CniError(CODE.INVALID_CONFIG, 'cni.dev/valid-attachments must be a list of {containerID, ifname}')
  return raw.map((a, i) => {
    const o = (a ?? {}) as Record<string, unknown>
    if (typeof o.containerID !== 'string' || typeof o.ifname !== 'string') {
      throw new CniError(CODE.INVALID_CONFIG, `cni.dev/valid-attachments[${i}] must have string containerID and ifname`)
    }
    return {containerID: o.containerID, ifname: o.ifname}
  })
}
