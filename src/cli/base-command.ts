import {writeSync} from 'node:fs'

import {Command, Flags, Interfaces} from '@oclif/core'
import chalk from 'chalk'

import {envelope, type Envelope} from '../core/envelope.js'
import {CnidbgError, UsageError} from '../core/errors.js'
import {EXIT, EXIT_CODE_HELP} from '../core/exit-codes.js'
import {visible} from '../core/text.js'
import {cleaningUp, installSignalCleanup, signalExitCode} from '../process/cleanup.js'

export type {Envelope} from '../core/envelope.js'

/** What any command exits with when a signal stops it (src/process/cleanup.ts), whatever its own table. */
const SIGNAL_EXIT_HELP: Record<string, string> = {
  '130': 'interrupted by SIGINT (Ctrl-C), after removing what it had made',
  '129': 'stopped by SIGHUP (the terminal went away), after removing what it had made',
  '143': 'stopped by SIGTERM, after removing what it had made',
}

/** Appends the shared exit-code table to a command description, so --help always shows it. */
export function describe(text: string, exitCodes: Record<string, string> = EXIT_CODE_HELP): string {
  const rows = Object.entries({...exitCodes, ...SIGNAL_EXIT_HELP}).map(
    ([code, meaning]) => `  ${code.padEnd(3)} ${meaning}`,
  )
  return `${text}\n\nEXIT CODES\n${rows.join('\n')}`
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g

/** Above this, --json output is printed plain: oclif's colouring tokenizes with regexes that overflow the stack on big strings. */
const MAX_COLOURED_JSON = 256 * 1024

function editDistance(a: string, b: string): number {
  let prev = Array.from({length: b.length + 1}, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = cur
  }
  return prev[b.length] ?? 0
}

/** The known flag closest to a mistyped one, if it is close enough to be what was meant. */
export function closestFlag(typed: string, known: readonly string[]): string | undefined {
  const name = typed.replace(/^--?/, '').replace(/=.*$/, '')
  let best: {d: number; flag?: string} = {d: Math.max(2, Math.floor(name.length / 3)) + 1}
  for (const k of known) {
    const d = editDistance(name, k)
    if (d < best.d) best = {d, flag: k}
  }
  return best.flag
}

/**
 * An error from oclif's parser (unknown flag, bad value, missing or extra argument) as a usage error:
 * exit 2, code USAGE, oclif's message on one line, and suggestions instead of "See more help".
 */
function parseUsageError(err: Error & {flags?: string[]}, command: string, known: readonly string[]): UsageError {
  const lines = err.message
    .replace(ANSI, '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && l !== 'See more help with --help')
  const [first = 'Invalid arguments', ...rest] = lines
  const message = rest.length > 0 ? `${first.replace(/:?$/, ':')} ${rest.join('; ')}` : first
  const suggestions: string[] = []
  for (const f of err.flags ?? []) {
    const near = closestFlag(f, known)
    if (near) suggestions.push(`Did you mean --${near}?`)
  }
  suggestions.push(`See the flags and arguments: ${command} --help`)
  return new UsageError(message, {cause: err, code: 'USAGE', suggestions})
}

/**
 * The exit status cleanup.ts's signal handler exits with (128 + the signal's number). The envelope
 * printed at exit reads the real one; this is what a command that fails meanwhile sets.
 */
function signalExit(signal: NodeJS.Signals | undefined): number {
  return signalExitCode(signal ?? 'SIGTERM')
}

/**
 * What an interrupted run owes its caller: under --json, one envelope whose status is the code the
 * process really exits with. The signal handler (src/process/cleanup.ts) calls process.exit once its
 * cleanups are done, which may be before the command's own error reaches catch(), or while it is still
 * blocked: so the envelope is printed at exit, unless the command printed one already. Process-wide,
 * like the signal handler; the command that last started is the one interrupted.
 */
const interruption: {
  signal?: NodeJS.Signals
  command?: {id: string; json: boolean; printed: boolean; warnings: string[]}
  watching: boolean
} = {watching: false}

function watchForSignals(): void {
  if (interruption.watching) return
  interruption.watching = true
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    // Once, beside installSignalCleanup's own: what a second signal does stays as cleanup.ts has it.
    process.once(signal, () => {
      interruption.signal ??= signal
    })
  }
  process.on('exit', (code) => {
    const c = interruption.command
    if (!interruption.signal || !c?.json || c.printed) return
    c.printed = true
    const env = envelope(
      {command: c.id, status: code, warnings: c.warnings},
      {
        error: {
          code: 'INTERRUPTED',
          message: `Interrupted by ${interruption.signal}.`,
          suggestions: [],
        },
      },
    )
    // Synchronous: nothing asynchronous runs in an exit listener.
    writeSync(1, JSON.stringify(env, null, 2) + '\n')
  })
}

// What oclif's parser returns for flags and args (its FlagOutput/ArgOutput, not exported).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ParsedMap = {[name: string]: any}

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<
  (typeof BaseCommand)['baseFlags'] & T['flags']
>

/**
 * Base for every cnidbg command (README "JSON output", "Exit codes"): the --json envelope, --debug,
 * one-line errors with suggestions, and exit codes that survive --json (oclif core 4 loses
 * `err.oclif.exit` there).
 */
export abstract class BaseCommand<T> extends Command {
  static override baseFlags = {
    debug: Flags.boolean({helpGroup: 'GLOBAL', summary: 'Show stack traces and every subprocess cnidbg runs.'}),
  }

  static override enableJsonFlag = true

  protected warnings: string[] = []

  /**
   * oclif's parse with two changes. A positional is never read from stdin (oclif 4 fills a missing
   * one from a pipe, so `echo /run/netns/x | cnidbg exec add --conf f` would attach to x); only an
   * input given as "-" reads it, explicitly. And every parser error is a usage error (exit 2).
   */
  protected override async parse<F extends ParsedMap, B extends ParsedMap, A extends ParsedMap>(
    options?: Interfaces.Input<F, B, A>,
    argv?: string[],
  ): Promise<Interfaces.ParserOutput<F, B, A>> {
    const input = (options ?? this.ctor) as Interfaces.Input<F, B, A>
    const args = Object.fromEntries(
      Object.entries(input.args ?? {}).map(([name, arg]) => [name, {...arg, ignoreStdin: true}]),
    ) as Interfaces.ArgInput<A>
    try {
      // Named one by one: a command class's inherited statics (baseFlags, enableJsonFlag) are not
      // own properties, so a spread would drop them.
      // Unset ones are left out, so oclif's defaults (e.g. its context) still apply.
      const opts = Object.fromEntries(
        Object.entries({
          '--': input['--'],
          args,
          baseFlags: input.baseFlags,
          constraints: input.constraints,
          context: input.context,
          enableJsonFlag: input.enableJsonFlag,
          flags: input.flags,
          strict: input.strict,
        }).filter(([, v]) => v !== undefined),
      ) as Interfaces.Input<F, B, A>
      return await super.parse<F, B, A>(opts, argv)
    } catch (error) {
      if (error instanceof CnidbgError || !(error instanceof Error)) throw error
      const known = Object.keys({...input.flags, ...input.baseFlags, ...(input.enableJsonFlag ? {json: true} : {})})
      const command = `${this.config?.bin ?? 'cnidbg'} ${(this.id ?? '').replaceAll(':', ' ')}`.trim()
      throw parseUsageError(error, command, known)
    }
  }

  /**
   * The envelope as plain JSON.stringify unless it is small and going to a terminal: oclif's
   * colouring (ux.colorizeJson) throws a RangeError on a config of a few MB.
   */
  protected override logJson(json: unknown): void {
    if (interruption.command) interruption.command.printed = true
    const text = JSON.stringify(json, null, 2) ?? 'null'
    if (process.stdout.isTTY && text.length <= MAX_COLOURED_JSON) {
      super.logJson(json)
      return
    }
    process.stdout.write(text + '\n')
  }

  public override async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    if (cleaningUp()) {
      // Whatever failed did so because the signal's cleanup took its namespaces, mounts or processes
      // away (e.g. "the host view of … is closed"): that is the interruption, not a bug. The envelope
      // comes at exit (watchForSignals), with the status the process exits with.
      process.exitCode = signalExit(interruption.signal)
      if (this.jsonEnabled()) return
      this.logToStderr(
        this.argv.includes('--debug')
          ? chalk.dim(err.stack ?? String(err))
          : `Interrupted by ${interruption.signal ?? 'a signal'}.`,
      )
      return
    }
    const exit = err.oclif?.exit ?? (err instanceof CnidbgError ? EXIT.FAILED : undefined)
    // oclif's own parse errors (unknown flag, missing arg) carry exit 2 already.
    const isKnown = err instanceof CnidbgError || exit !== undefined
    const code = isKnown ? (exit ?? EXIT.USAGE) : EXIT.INTERNAL
    process.exitCode = code
    if (this.jsonEnabled()) {
      this.logJson(this.toErrorJson(err))
      return
    }
    if (!isKnown || this.argv.includes('--debug')) {
      this.logToStderr(chalk.red(err.stack ?? String(err)))
    } else {
      // A message may quote what a plugin or a file said: its control characters must not reach the terminal.
      this.logToStderr(`${chalk.red('Error:')} ${visible(err.message)}`)
    }
    const suggestions = (err as {suggestions?: string[]}).suggestions ?? []
    for (const s of suggestions) this.logToStderr(`  ${chalk.dim('→')} ${s}`)
    if (!isKnown) this.logToStderr(chalk.dim('This is a bug in cnidbg. Re-run with --debug and report the output.'))
  }

  public override async init(): Promise<void> {
    await super.init()
    installSignalCleanup()
    watchForSignals()
    interruption.command = {
      id: (this.id ?? '').replaceAll(':', ' '),
      json: this.jsonEnabled(),
      printed: false,
      warnings: this.warnings,
    }
    if (this.argv.includes('--debug')) process.env.CNIDBG_DEBUG = '1'
  }

  /** Records a warning: printed at once on stderr for people, and collected into the envelope. */
  protected addWarning(message: string): void {
    this.warnings.push(message)
    if (!this.jsonEnabled()) this.logToStderr(`${chalk.yellow('Warning:')} ${visible(message)}`)
  }

  protected override toErrorJson(err: unknown): Envelope<T> {
    const e = err as {
      message?: string
      code?: string
      cnidbgCode?: string
      suggestions?: string[]
      oclif?: {exit?: number}
    }
    return envelope<T>(
      {
        command: (this.id ?? '').replaceAll(':', ' '),
        status: Number(process.exitCode ?? e.oclif?.exit ?? EXIT.INTERNAL),
        warnings: this.warnings,
      },
      {
        error: {
          code: e.cnidbgCode ?? e.code ?? 'INTERNAL',
          message: e.message ?? String(err),
          suggestions: e.suggestions ?? [],
        },
      },
    )
  }

  protected override toSuccessJson(result: unknown): Envelope<T> {
    return envelope<T>(
      {command: (this.id ?? '').replaceAll(':', ' '), status: Number(process.exitCode ?? 0), warnings: this.warnings},
      {result: result as T},
    )
  }
}
