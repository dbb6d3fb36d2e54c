import {frontMain} from './front.js'

// cnidbg-ref.js, the Node half of cnidbg-ref (bundled to dist/plugins/cnidbg-ref.js; the shell front
// dist/plugins/cnidbg-ref runs it, see front.ts).
void frontMain()
