import {cmdAdd} from './cmd-add.js'
import {cmdCheck} from './cmd-check.js'
import {cmdDel} from './cmd-del.js'
import {cmdGc} from './cmd-gc.js'
import {cmdStatus} from './cmd-status.js'
import type {PluginFuncs} from './skel.js'

export const refPlugin: PluginFuncs = {
  about: 'cnidbg-ref: veth + routed pod networking (a ptp-style reference CNI plugin)',
  add: cmdAdd,
  del: cmdDel,
  check: cmdCheck,
  status: cmdStatus,
  gc: cmdGc,
}
