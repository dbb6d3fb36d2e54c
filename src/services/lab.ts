/**
 * The lab as the commands use it: bring one up, inspect it, add and remove pods, inject and heal
 * faults, take it down. Each entry is the lab feature's own operation; the commands render them.
 */
export {labUp, LAB_UP_STEPS, type LabUpOptions, type LabUpResult} from '../lab/up.js'
export {labDown, type LabDownResult} from '../lab/down.js'
export {labStatus, type LabStatusResult} from '../lab/status.js'
export {podAdd, podRm, type PodInfo, type PodRmResult} from '../lab/pods.js'
export {
  type AppliedFault,
  faultCatalog,
  type FaultCatalogEntry,
  labBreak,
  labHeal,
  type LabHealResult,
} from '../lab/break.js'
export {FAULTS} from '../lab/faults/index.js'
export {labExec, type LabExecResult} from '../lab/exec.js'
export {DEFAULT_LAB_NAME, LAB_MODES, type LabMode, type LabTopologyKind} from '../lab/names.js'
export {pickLab} from '../lab/lifecycle.js'
