import {basename} from 'node:path'

import {ipamPlugin} from './ipam/plugin.js'
import {refPlugin} from './plugin-ref.js'
import {pluginMain} from './skel.js'

// The single-executable build: one binary, hard-linked as cnidbg-ref and cnidbg-ipam; the name it was
// started as picks the plugin (a runtime execs the path it found in CNI_PATH, so argv0 is that path).
void pluginMain(basename(process.argv0) === 'cnidbg-ipam' ? ipamPlugin : refPlugin)
