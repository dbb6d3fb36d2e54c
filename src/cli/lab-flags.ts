import {Flags} from '@oclif/core'

import {DEFAULT_LAB_NAME} from '../lab/names.js'

/** The name of the lab `lab up` makes. */
export const labNameFlag = Flags.string({
  default: DEFAULT_LAB_NAME,
  env: 'CNIDBG_LAB',
  summary: 'Lab name (lower-case letters and digits). Several labs can run side by side.',
})

/** The lab to act on, for every lab command but `lab up`: by default the only one running. */
export const labFlag = Flags.string({
  env: 'CNIDBG_LAB',
  summary: 'Lab name. Default: the only lab running (several running: name one).',
})
