import fs from 'node:fs'
import {fileURLToPath} from 'node:url'

/** Whether the module at `moduleUrl` is the script node was started with (the lab's background programs). */
export function isEntryPoint(moduleUrl: string): boolean {
  if (!process.argv[1]) return false
  try {
    return fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(moduleUrl))
  } catch {
    return false
  }
}
