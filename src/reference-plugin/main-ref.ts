import {frontMain} from './front.js'

// The cnidbg-ref executable (bundled to dist/plugins/cnidbg-ref behind its shell front, see front.ts).
void frontMain()
