import {readFileSync, writeSync} from 'node:fs'

import {CniError, CODE, toErrorObject} from './errors.js'
import {readCmdArgs, type CmdArgs} from './env.js'
import {toWire} from './result.js'
import type {Result} from './types.js'
import {CURRENT_VERSION, hasCheck, hasGc, hasStatus, isSupported, SUPPORTED_VERSIONS} from './versions.js'

/** One verb's input: the environment and the decoded stdin config (SPEC §3 "request configuration"). */
export interface Ctx {
  args: CmdArgs
  conf: Record<string, unknown>
  /** The exact stdin bytes: a delegate gets the complete config, unchanged (SPEC §4). */
  stdin: string
  cniVersion: string
  name: string
  /** Takes a delegate's stderr (SPEC §4, P105) when it cannot simply be ours: the plugin server's clients. */
  onStderr?: (text: string) => void
}

/** A plugin's verbs, like Go's skel.CNIFuncs. */
export interface PluginFuncs {
  about: string
  add(ctx: Ctx): Promise<Result>
  del(ctx: Ctx): Promise<void>
  check(ctx: Ctx): Promise<void>
  status(ctx: Ctx): Promise<void>
  gc(ctx: Ctx): Promise<void>
}

export interface Outcome {
  stdout: string
  exitCode: number
}

// SPEC §1 "Configuration format": the network name becomes a directory name.
const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/

function decode(stdin: string): Record<string, unknown> {
  let conf: unknown
  try {
    conf = JSON.parse(stdin)
  } catch (error) {
    throw new CniError(
      CODE.DECODE_FAILURE,
      'the network configuration on stdin is not valid JSON',
      (error as Error).message,
    )
  }
  if (typeof conf !== 'object' || conf === null || Array.isArray(conf)) {
    throw new CniError(CODE.DECODE_FAILURE, 'the network configuration on stdin must be a JSON object')
  }
  return conf as Record<string, unknown>
}

function versionOf(stdin: string): string | undefined {
  try {
    const v = (JSON.parse(stdin) as {cniVersion?: unknown}).cniVersion
    return typeof v === 'string' && v !== '' ? v : undefined
  } catch {
    return undefined
  }
}

const line = (o: unknown): string => JSON.stringify(o) + '\n'

/**
 * Runs one invocation: the whole plugin protocol minus process I/O, so cnidbg-ref can also run
 * cnidbg-ipam in-process with exactly the binary's behaviour.
 */
export async function runPlugin(
  funcs: PluginFuncs,
  env: NodeJS.ProcessEnv,
  stdin: string | Error,
  io: {onStderr?: (text: string) => void; netnsRoot?: string} = {},
): Promise<Outcome> {
  const text = typeof stdin === 'string' ? stdin : ''
  const asked = versionOf(text)
  // The error's cniVersion is "the protocol version in use" (SPEC §5 Error): the request's.
  const errVersion = asked ?? CURRENT_VERSION
  const fail = (err: unknown): Outcome => ({stdout: line(toErrorObject(err, errVersion)), exitCode: 1})
  const command = env.CNI_COMMAND ?? ''
  if (command === 'VERSION') {
    // SPEC §5 "VERSION Success": cniVersion echoes the input's (any x.y.z; the runtime picks from the list).
    const v = asked && /^\d+\.\d+\.\d+$/.test(asked) ? asked : CURRENT_VERSION
    return {stdout: line({cniVersion: v, supportedVersions: SUPPORTED_VERSIONS}), exitCode: 0}
  }
  try {
    if (!['ADD', 'DEL', 'CHECK', 'STATUS', 'GC'].includes(command)) {
      throw new CniError(
        CODE.INVALID_ENV,
        command ? `unknown CNI_COMMAND: ${command}` : 'CNI_COMMAND is not set',
        'CNI_COMMAND must be one of ADD, DEL, CHECK, STATUS, GC, VERSION',
      )
    }
    const args = readCmdArgs(env)
    if (io.netnsRoot && args.netns.startsWith('/')) args.netnsPath = io.netnsRoot + args.netns
    if (stdin instanceof Error) {
      throw new CniError(CODE.IO_FAILURE, 'cannot read the network configuration from stdin', stdin.message)
    }
    const conf = decode(text)
    const cniVersion = conf.cniVersion
    if (typeof cniVersion !== 'string' || !isSupported(cniVersion)) {
      throw new CniError(
        CODE.INCOMPATIBLE_VERSION,
        'incompatible CNI versions',
        `config is ${JSON.stringify(cniVersion ?? '')}, plugin supports [${SUPPORTED_VERSIONS.join(' ')}]`,
      )
    }
    // Verbs newer than the config's version are errors, as in Go's skel (checklist P29).
    const gate = {CHECK: hasCheck, GC: hasGc, STATUS: hasStatus}[command as 'CHECK' | 'GC' | 'STATUS']
    if (gate && !gate(cniVersion)) {
      throw new CniError(
        CODE.INCOMPATIBLE_VERSION,
        `config version does not allow ${command}`,
        `${command} needs cniVersion ${command === 'CHECK' ? '0.4.0' : '1.1.0'} or later; the config has ${cniVersion}`,
      )
    }
    const name = conf.name
    if (typeof name !== 'string' || !NETWORK_NAME.test(name)) {
      throw new CniError(
        CODE.INVALID_CONFIG,
        name === undefined || name === ''
          ? 'the network config has no "name"'
          : `invalid network name ${JSON.stringify(name)}`,
        'name must start with a letter or digit, followed by letters, digits, "_", "." or "-"',
      )
    }
    const ctx: Ctx = {args, conf, stdin: text, cniVersion, name, onStderr: io.onStderr}
    switch (command) {
      case 'ADD':
        return {stdout: line(toWire(await funcs.add(ctx), cniVersion)), exitCode: 0}
      case 'DEL':
        await funcs.del(ctx)
        break
      case 'CHECK':
        await funcs.check(ctx)
        break
      case 'STATUS':
        await funcs.status(ctx)
        break
      case 'GC':
        await funcs.gc(ctx)
        break
    }
    return {stdout: '', exitCode: 0}
  } catch (error) {
    return fail(error)
  }
}

export function readStdin(): string | Error {
  try {
    return readFileSync(0, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    // No stdin at all (closed, or a terminal for a VERSION probe) reads as empty.
    if (code === 'EAGAIN' || code === 'EOF' || code === 'EBADF') return ''
    return error as Error
  }
}

/**
 * Writes all of `text` to `fd`, synchronously. A non-blocking pipe that is full is waited on (1 ms at
 * a time); a reader that went away ends the write quietly, as nobody is left to tell.
 */
export function writeAllSync(fd: number, text: string): void {
  const buf = Buffer.from(text)
  for (let off = 0; off < buf.length;) {
    try {
      off += writeSync(fd, buf, off)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'EPIPE') return
      if (code !== 'EAGAIN') throw error
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1)
    }
  }
}

/**
 * Writes all of `text` to `fd` and exits with `code`. process.stdout on a pipe is a net.Socket, and
 * creating it loads the stream and net modules, ~4 ms of a plugin's start-up: write the fd directly.
 */
export function finish(fd: number, text: string, code: number): never {
  writeAllSync(fd, text)
  process.exit(code)
}

/** The process entry: read stdin, run, print, exit. With no CNI_COMMAND, prints the about line (like skel). */
export async function pluginMain(funcs: PluginFuncs): Promise<void> {
  if (!process.env.CNI_COMMAND) {
    finish(2, `${funcs.about}\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(', ')}\n`, 0)
  }
  const stdin = readStdin()
  // VERSION needs no config: an unreadable stdin is just "no cniVersion given".
  const input = process.env.CNI_COMMAND === 'VERSION' && typeof stdin !== 'string' ? '' : stdin
  const out = await runPlugin(funcs, process.env, input)
  finish(1, out.stdout, out.exitCode)
}
