// Bundles the reference plugins into self-contained files under dist/plugins (filled in by issue 4).
import {existsSync} from 'node:fs'

if (!existsSync('src/reference-plugin/main-ref.ts')) process.exit(0)
