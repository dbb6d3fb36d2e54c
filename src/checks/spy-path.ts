import {existsSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

/** The dir holding the bundled spy plugin (dist/plugins), added to CNI_PATH after the user's dirs. */
export function spyPluginDir(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url))
  for (const dir of [join(here, '..', 'plugins'), join(here, '..', '..', 'dist', 'plugins')])
    if (existsSync(join(dir, 'cnidbg-spy'))) return dir
  return undefined
}
