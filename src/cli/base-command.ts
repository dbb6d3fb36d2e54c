import {Command, Flags, Interfaces} from '@oclif/core'
import chalk from 'chalk'

import {CnidbgError} from '../core/errors.js'
import type {Envelope} from '../core/envelope.js'
import {EXIT, EXIT_CODE_HELP} from '../core/exit-codes.js'
import {installSignalCleanup} from '../process/cleanup.js'

export type {Envelope} from '../core/envelope.js'

/** Appends the shared exit-code table to a command description, so --help always shows it. */
export function describe(text: string, exitCodes: Record<string, string> = EXIT_CODE_HELP): string {
  const rows = Object.entries(exitCodes).map(([code, meaning]) => `  ${code.padEnd(3)} ${meaning}`)
  return `${text}\n\nEXIT CODES\n${rows.join('\n')}`
}

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

  public override async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
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
      this.logToStderr(`${chalk.red('Error:')} ${err.message}`)
    }
    const suggestions = (err as {suggestions?: string[]}).suggestions ?? []
    for (const s of suggestions) this.logToStderr(`  ${chalk.dim('→')} ${s}`)
    if (!isKnown) this.logToStderr(chalk.dim('This is a bug in cnidbg. Re-run with --debug and report the output.'))
  }

  public override async init(): Promise<void> {
    await super.init()
    installSignalCleanup()
    if (this.argv.includes('--debug')) process.env.CNIDBG_DEBUG = '1'
  }

  /** Records a warning: printed at once on stderr for people, and collected into the envelope. */
  protected addWarning(message: string): void {
    this.warnings.push(message)
    if (!this.jsonEnabled()) this.logToStderr(`${chalk.yellow('Warning:')} ${message}`)
  }

  protected override toErrorJson(err: unknown): Envelope<T> {
    const e = err as {
      message?: string
      code?: string
      cnidbgCode?: string
      suggestions?: string[]
      oclif?: {exit?: number}
    }
    return {
      schemaVersion: 1,
      command: (this.id ?? '').replaceAll(':', ' '),
      status: Number(process.exitCode ?? e.oclif?.exit ?? EXIT.INTERNAL),
      warnings: this.warnings,
      error: {
        code: e.cnidbgCode ?? e.code ?? 'INTERNAL',
        message: e.message ?? String(err),
        suggestions: e.suggestions ?? [],
      },
    }
  }

  protected override toSuccessJson(result: unknown): Envelope<T> {
    return {
      schemaVersion: 1,
      command: (this.id ?? '').replaceAll(':', ' '),
      status: Number(process.exitCode ?? 0),
      result: result as T,
      warnings: this.warnings,
    }
  }
}
