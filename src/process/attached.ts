import {spawn} from 'node:child_process'

/** How an attached program ended. */
export interface AttachedResult {
  exitCode: number | null
  signal: string | null
  /** Could not be started at all (ENOENT, EACCES…). */
  spawnError?: string
}

/**
 * Runs a program on our own terminal: its stdin, stdout and stderr are ours, so it can be interactive
 * (`cnidbg lab exec pod -- sh`). It stays in our process group, so Ctrl-C reaches it as it would a
 * program started from the shell; we only wait for it.
 */
export function runAttached(
  file: string,
  args: readonly string[],
  opts: {env?: Record<string, string | undefined>} = {},
): Promise<AttachedResult> {
  if (process.env.CNIDBG_DEBUG) process.stderr.write(`[cnidbg] $ ${[file, ...args].join(' ')}\n`)
  return new Promise((resolve) => {
    const child = spawn(file, args, {env: {...process.env, ...opts.env}, stdio: 'inherit'})
    let spawnError: string | undefined
    child.on('error', (e) => {
      spawnError = e.message
      // 'close' does not follow a failed spawn.
      if (child.pid === undefined) resolve({exitCode: null, signal: null, spawnError})
    })
    child.on('close', (code, signal) => resolve({exitCode: code, signal, spawnError}))
  })
}
