import {BaseCommand} from './base-command.js'
import {UsageError} from '../core/errors.js'
import {EXIT} from '../core/exit-codes.js'
import {splitCniPath} from '../runtime/find.js'
import type {ExecOptions, ExecResult} from '../services/exec.js'
import {readStdinText} from './stdin.js'
import {renderExecResult, renderInvocation} from '../ui/text/exec-result.js'

interface ParsedExec {
  args: {network?: string; netns?: string}
  flags: Record<string, unknown>
}

/**
 * What every `exec <verb>` command shares: flags → ExecOptions, output, exit code. Verbs stay thin:
 * parse flags, call one service.
 */
export abstract class ExecCommand extends BaseCommand<ExecResult> {
  protected async toOptions({args, flags}: ParsedExec): Promise<ExecOptions> {
    // With --conf the network name is not needed, so a single positional is the netns (cnitool order otherwise).
    const shift = flags.conf !== undefined && args.netns === undefined
    const positional = shift ? args.network : args.netns
    const flag = flags.netns as string | undefined
    if (flag !== undefined && positional !== undefined && positional !== flag)
      throw new UsageError(
        `The netns is given twice: ${JSON.stringify(positional)} and --netns ${JSON.stringify(flag)}.`,
        {
          code: 'NETNS_TWICE',
          suggestions: ['Give it once: as the NETNS argument or as --netns.'],
        },
      )
    const verbose = Boolean(flags.verbose) && !this.jsonEnabled()
    return {
      args: flags.args as string | undefined,
      cacheDir: flags['cache-dir'] as string | undefined,
      capArgs: flags['cap-args'] as string | undefined,
      cniPath: splitCniPath(flags['cni-path'] as string),
      conf: flags.conf as string | undefined,
      // Only the flag reads stdin: positionals never do (BaseCommand.parse), so a piped path can't
      // become the netns.
      confText: flags.conf === '-' ? await readStdinText({what: '--conf -'}) : undefined,
      containerId: flags['container-id'] as string | undefined,
      ifname: (flags.ifname as string | undefined) ?? 'eth0',
      netconfPath: flags['netconf-path'] as string | undefined,
      netns: flag ?? positional,
      network: shift ? undefined : args.network,
      onInvocation: verbose ? (o) => this.logToStderr(renderInvocation(o.invocation).join('\n')) : undefined,
      rm: flags.rm as boolean | undefined,
      rollback: flags.rollback as boolean | undefined,
      sandbox: flags.sandbox as boolean | string | undefined,
      timeoutSeconds: (flags.timeout as number | undefined) ?? 30,
      valid: flags.valid as string[] | undefined,
    }
  }

  /** Prints the result (or leaves it to --json), spec warnings, and sets the exit code. */
  protected finish(result: ExecResult): ExecResult {
    for (const p of result.problems) {
      if (p.severity === 'info') continue
      this.addWarning(`${p.plugin}: ${p.message} [${p.requirement}, ${p.severity.toUpperCase()}]`)
    }
    if (!this.jsonEnabled()) {
      const lines = renderExecResult(result)
      if (result.ok) this.log(lines.join('\n'))
      else this.logToStderr(lines.join('\n'))
    }
    process.exitCode = result.ok ? EXIT.OK : EXIT.FAILED
    return result
  }
}
