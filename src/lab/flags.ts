import {Flags} from '@oclif/core'

import {DEFAULT_LAB_NAME} from './names.js'

/** The lab to act on; every lab command takes it. */
export const labNameFlag = Flags.string({
  default: DEFAULT_LAB_NAME,
  env: 'CNIDBG_LAB',
  summary: 'Lab name (lower-case letters and digits). Several labs can run side by side.',
})
