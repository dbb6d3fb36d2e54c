import {existsSync, writeFileSync} from 'node:fs'

/**
 * Crash-test hook: with CNIDBG_TEST_HOLD=<stage> and CNIDBG_TEST_HOLD_FILE=<path>, the plugin writes
 * its pid to <path> when it reaches <stage> and then waits until <path> is removed, so a test can act
 * at an exact point: kill -9 it there (mid-ADD with the lock held, after reserving, after creating the
 * veth), or signal a plugin server that has just written its pid file and then let it go on. Unset: a
 * no-op.
 */
export async function holdPoint(stage: string): Promise<void> {
  const file = process.env.CNIDBG_TEST_HOLD_FILE
  if (process.env.CNIDBG_TEST_HOLD !== stage || !file) return
  writeFileSync(file, String(process.pid))
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (existsSync(file)) return
      clearInterval(timer)
      resolve()
    }, 20)
  })
}
