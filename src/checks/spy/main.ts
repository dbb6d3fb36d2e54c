/**
 * The spy CNI plugin as an executable (bundled to dist/plugins by scripts/bundle-plugins.mjs). It
 * starts no subprocesses and imports nothing heavy: fs, path and the spy's own modules.
 * See spy.ts for the behaviour and control.ts for the protocol.
 */
import {readFileSync, writeSync} from 'node:fs'
import {basename} from 'node:path'

import {runSpy} from './spy.js'

function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text)
  let off = 0
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off, buf.length - off)
    } catch (error) {
      // A non-blocking pipe that is full: wait a moment and go on. Anything else (EPIPE): give up.
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2)
    }
  }
}

let stdin = ''
try {
  stdin = readFileSync(0, 'utf8')
} catch {
  // No stdin (closed or a terminal): the spy logs an empty request.
}
const out = runSpy({env: process.env, stdin, self: basename(process.argv[1] ?? 'cnidbg-spy')})
if (out.stderr) writeAll(2, out.stderr)
if (out.stdout) writeAll(1, out.stdout)
process.exitCode = out.exitCode
