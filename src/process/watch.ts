import {spawn} from 'node:child_process'

import {onCleanup} from './cleanup.js'
import {killGroup} from './kill-group.js'

/** A running line watcher (watchLines). */
export interface LineWatch {
  readonly pid: number | undefined
  /** Ends the program (its whole process group) and resolves once it has exited. */
  stop(): Promise<void>
}

export interface WatchOptions {
  /** Each line the program prints, without its newline. */
  onLine: (line: string) => void
  /** Whatever it prints on stderr, as it comes (`ip monitor` reports lost events there). */
  onStderr?: (text: string) => void
  /** Once, when it exited or could not be started, with why and its last stderr; never after stop(). */
  onExit?: (why: string) => void
  /** A longer line is handed on cut to this many characters, so a flood cannot grow our memory. */
  maxLineChars?: number
}

const DEFAULT_MAX_LINE = 64 * 1024

/**
 * Runs a program that prints events a line at a time for as long as it runs (`ip monitor`) and hands
 * each line on. It is started through `setpriv --pdeathsig KILL`, so the kernel kills it when we die,
 * however we die: SIGKILL and a crash included, where no cleanup of ours runs. Otherwise an orphaned
 * watcher would live on in its namespace, unread, until that namespace went away. It leads its own
 * process group, which a signal cleanup (cleanup.ts) and stop() kill.
 */
export function watchLines(file: string, args: readonly string[], opts: WatchOptions): LineWatch {
  const argv = ['--pdeathsig', 'KILL', '--', file, ...args]
  if (process.env.CNIDBG_DEBUG) process.stderr.write(`[cnidbg] $ setpriv ${argv.join(' ')} (watching)\n`)
  const child = spawn('setpriv', argv, {detached: true, stdio: ['ignore', 'pipe', 'pipe']})
  const pid = child.pid
  const max = opts.maxLineChars ?? DEFAULT_MAX_LINE
  const unregister = onCleanup(`stop ${file}`, () => killGroup(pid))
  let stopped = false
  let buf = ''
  let stderr = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => {
    buf += chunk
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      if (!stopped) opts.onLine(line.length > max ? line.slice(0, max) : line)
    }
    // A line with no end in sight is handed on in pieces rather than kept.
    if (buf.length > max) {
      if (!stopped) opts.onLine(buf.slice(0, max))
      buf = ''
    }
  })
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-2000)
    if (!stopped) opts.onStderr?.(chunk)
  })
  const exited = new Promise<void>((resolve) => {
    let done = false
    const end = (why: string) => {
      if (done) return
      done = true
      unregister()
      if (!stopped) opts.onExit?.(`${why}${stderr.trim() ? `: ${stderr.trim()}` : ''}`)
      resolve()
    }
    child.on('close', (code, signal) => end(`${file} exited (${signal ?? code})`))
    child.on('error', (error) => {
      // Not started at all (ENOENT…): no 'close' follows.
      if (pid === undefined) end(`cannot start setpriv for ${file}: ${error.message}`)
    })
  })
  return {
    pid,
    async stop() {
      stopped = true
      killGroup(pid)
      await exited
    },
  }
}
