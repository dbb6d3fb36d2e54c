import {writeFileSync} from 'node:fs'

/**
 * Crash-test hook: with CNIDBG_TEST_HOLD=<stage> and CNIDBG_TEST_HOLD_FILE=<path>, the plugin writes
 * its pid to <path> when it reaches <stage> and then waits forever, so a test can kill -9 it at an
 * exact point (mid-ADD with the lock held, after reserving, after creating the veth). Unset: a no-op.
 */
export async function holdPoint(stage: string): Promise<void> {
  if (process.env.CNIDBG_TEST_HOLD !== stage || !process.env.CNIDBG_TEST_HOLD_FILE) return
  writeFileSync(process.env.CNIDBG_TEST_HOLD_FILE, String(process.pid))
  await new Promise(() => setInterval(() => {}, 1 << 30))
}
