/**
 * SIGKILL to a whole process group: every runner here starts its child as a group leader (detached),
 * so a timeout or a stop takes down what the child started too. A group already gone is no error.
 */
export function killGroup(pid: number | undefined): void {
  if (!pid) return
  try {
    process.kill(-pid, 'SIGKILL')
  } catch {
    // Already gone.
  }
}

/** How long after a child's exit its group is killed, and again until its pipes are let go. */
const STRAGGLER_MS = 1000

/**
 * What may still hold a child's pipes once it exited, and so keep its runner waiting for their end:
 * a second after the exit the child's group is killed (a forked child that kept stdout), and a second
 * later, when a process that left the group (setsid) still holds them, the pipes are let go and
 * `heldOpen` runs. Call the returned function when the pipes closed, to cancel what is still to come.
 */
export function releaseAfterExit(
  child: {
    pid?: number
    stdio: ReadonlyArray<{destroy(): void} | null | undefined>
    once(event: 'exit', fn: () => void): unknown
  },
  heldOpen: () => void = () => {},
): () => void {
  let timer: NodeJS.Timeout | undefined
  child.once('exit', () => {
    timer = setTimeout(() => {
      killGroup(child.pid)
      timer = setTimeout(() => {
        heldOpen()
        for (const s of child.stdio) s?.destroy()
      }, STRAGGLER_MS)
    }, STRAGGLER_MS)
  })
  return () => clearTimeout(timer)
}
