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
