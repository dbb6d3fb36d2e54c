import {ipamPlugin} from './ipam/plugin.js'
import {pluginMain} from './skel.js'

// The cnidbg-ipam executable (bundled to dist/plugins/cnidbg-ipam).
void pluginMain(ipamPlugin)
