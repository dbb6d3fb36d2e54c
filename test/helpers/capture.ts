/**
 * Runs an oclif command class in-process and captures what it prints (@oclif/test is not
 * installed, so this is its captureOutput). The exit code comes from process.exitCode, which the
 * base command sets because oclif core 4 loses `err.oclif.exit` under --json; it is reset
 * afterwards so the test process itself still exits 0.
 */
import {fileURLToPath} from 'node:url'

import type {Command} from '@oclif/core'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface Captured<T = unknown> {
  stdout: string
  stderr: string
  exitCode: number
  /** What run() returned (undefined when it failed). */
  result?: T
  /** What run() threw past the command's own catch (oclif's exit errors, or a bug). */
  error?: unknown
}

// eslint-disable-next-line no-control-regex
export const stripAnsi = (s: string): string => s.replace(/\u001b\[[0-9;]*m/g, '')

type CommandClass = typeof Command & {run: (argv?: string[], opts?: string) => Promise<unknown>}

/**
 * `id` is the command's oclif id (e.g. 'exec:add'). oclif sets it when it loads commands from the
 * manifest; a class run directly would otherwise be named after itself ('execadd').
 */
export async function runCommand<T = unknown>(cmd: CommandClass, id: string, argv: string[]): Promise<Captured<T>> {
  cmd.id = id
  const out: string[] = []
  const err: string[] = []
  const write = {err: process.stderr.write.bind(process.stderr), out: process.stdout.write.bind(process.stdout)}
  process.stdout.write = ((chunk: string | Uint8Array) => out.push(String(chunk)) > 0) as typeof process.stdout.write
  process.stderr.write = ((chunk: string | Uint8Array) => err.push(String(chunk)) > 0) as typeof process.stderr.write
  const saved = process.exitCode
  process.exitCode = undefined
  const captured: Captured<T> = {exitCode: 0, stderr: '', stdout: ''}
  try {
    captured.result = (await cmd.run(argv, ROOT)) as T
  } catch (error) {
    captured.error = error
  } finally {
    process.stdout.write = write.out
    process.stderr.write = write.err
    captured.exitCode = Number(process.exitCode ?? 0)
    process.exitCode = saved
    delete process.env.CNIDBG_DEBUG
  }
  captured.stdout = out.join('')
  captured.stderr = err.join('')
  return captured
}
