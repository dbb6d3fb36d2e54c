// Writes oclif.manifest.json: every command's id, description, flags and args, which `--help` and
// `--version` read instead of loading the commands (docs/architecture.md, "How the CLI is built").
//
// It loads the commands with @oclif/core's own Plugin, as the `oclif manifest` command does, and
// writes the same JSON. The `oclif` package was a dev dependency for that one command only, and it
// brought 186 packages of its own (about 8,500 files, for publishing and code generation) into every
// `npm ci`. We have no JIT plugins, the one thing that command adds on top of Plugin.
import {rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {Plugin} from '@oclif/core'

const root = fileURLToPath(new URL('..', import.meta.url))
const file = join(root, 'oclif.manifest.json')
// A stale manifest must not stand in for the commands while they are loaded.
rmSync(file, {force: true})
const plugin = new Plugin({
  errorOnManifestCreate: true,
  ignoreManifest: true,
  respectNoCacheDefault: true,
  root,
  type: 'core',
})
await plugin.load()
if (!plugin.valid || Object.keys(plugin.manifest.commands).length === 0) {
  throw new Error(`oclif-manifest: no commands found under ${root} (package.json oclif.commands)`)
}
// Commands are found in parallel, so their order varies: sorted as `oclif manifest` lists them (by
// depth, then by file name), so a rebuild leaves the tracked file unchanged.
const fileOf = (id) => `${id.replaceAll(':', '/')}.js`
const depth = (id) => id.split(':').length
const ids = Object.keys(plugin.manifest.commands).sort(
  (a, b) => depth(a) - depth(b) || (fileOf(a) < fileOf(b) ? -1 : fileOf(a) > fileOf(b) ? 1 : 0),
)
const manifest = {...plugin.manifest, commands: Object.fromEntries(ids.map((id) => [id, plugin.manifest.commands[id]]))}
writeFileSync(file, JSON.stringify(manifest, null, 2))
process.stderr.write(`wrote ${file} (${ids.length} commands)\n`)
