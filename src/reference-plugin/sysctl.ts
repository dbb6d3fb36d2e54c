import {readFileSync, writeFileSync} from 'node:fs'

/**
 * Sets a sysctl of the netns this process runs in: /proc/sys/net is resolved against the opener's
 * network namespace, so no `sysctl` exec is needed. Skips the write when it is already set.
 */
export function ensureSysctl(key: string, value: string): void {
  const path = `/proc/sys/${key.replaceAll('.', '/')}`
  if (readFileSync(path, 'utf8').trim() === value) return
  writeFileSync(path, value)
}
