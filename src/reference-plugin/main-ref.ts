import {refPlugin} from './plugin-ref.js'
import {pluginMain} from './skel.js'

// The cnidbg-ref executable (bundled to dist/plugins/cnidbg-ref).
void pluginMain(refPlugin)
