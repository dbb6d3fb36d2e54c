/**
 * Process-wide teardown for SIGINT/SIGTERM. Everything that creates a namespace, mount, process
 * or temp dir registers its undo here, so Ctrl-C leaves the machine as it was. A SIGKILLed run
 * can't run these; its markers (markers.ts) let the next run reap what it left.
 */
import {constants as osConstants} from 'node:os'

type Undo = () => Promise<void> | void

const undos = new Map<number, {label: string; undo: Undo}>()
let nextId = 1
let installed = false
let exiting = false

/** Registers an undo; returns the function that unregisters it (call it once you cleaned up). */
export function onCleanup(label: string, undo: Undo): () => void {
  const id = nextId++
  undos.set(id, {label, undo})
  return () => {
    undos.delete(id)
  }
}

/**
 * True once a signal started the cleanups: the undos to run were taken then, so anything made after
 * would stay behind. What makes lasting things (a sandbox) refuses to start.
 */
export function cleaningUp(): boolean {
  return exiting
}

/** Runs every registered undo, newest first, each at most once. Errors are swallowed: best effort. */
export async function runCleanups(): Promise<void> {
  const entries = [...undos.entries()].reverse()
  undos.clear()
  for (const [, {undo}] of entries) {
    try {
      await undo()
    } catch {
      // Best effort: a failed undo must not stop the others. The reaper catches what is left.
    }
  }
}

/** The status a process stopped by `signal` exits with, as a shell reports it: 128 + its number. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (osConstants.signals[signal] ?? 15)
}

function onSignal(signal: NodeJS.Signals): void {
  if (exiting) return
  exiting = true
  const code = signalExitCode(signal)
  process.stderr.write(`\ncnidbg: ${signal} received, cleaning up…\n`)
  // A second signal while cleaning up should not kill us halfway: swallow it.
  const swallow = () => {}
  process.on('SIGINT', swallow)
  process.on('SIGTERM', swallow)
  process.on('SIGHUP', swallow)
  runCleanups().finally(() => process.exit(code))
}

/** Installs the SIGINT/SIGTERM/SIGHUP handlers once per process. */
export function installSignalCleanup(): void {
  if (installed) return
  installed = true
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  process.once('SIGHUP', onSignal)
}
