import {Args, Flags} from '@oclif/core'
import chalk from 'chalk'

import {BaseCommand, describe} from '../cli/base-command.js'
import {MAX_TIMER_SECONDS, runtimeFlags} from '../cli/flags.js'
import {UsageError} from '../core/errors.js'
import {EXIT} from '../core/exit-codes.js'
import {visible} from '../core/text.js'
import {
  checkReportPaths,
  conformance,
  conformanceStatus,
  type ConformanceReport,
  type PluginRole,
  type Profile,
  splitCniPath,
  writeReportFiles,
} from '../services/conformance.js'
import {renderConformanceProgress} from '../ui/render-conformance-progress.js'
import {formatReports, pairReporterOutputs, REPORTERS} from '../ui/reporters/index.js'

export default class Conformance extends BaseCommand<ConformanceReport> {
  static override args = {
    conf: Args.string({
      description: 'The .conflist (or .conf, up-converted) that uses the plugin under test.',
      required: true,
    }),
  }

  static override description = describe(
    `A black-box CNI spec conformance suite for any plugin binary. Each case runs the real plugin from its own throwaway sandboxed host (own netns, private /var/lib/cni and /run/cni) against throwaway container namespaces, and holds the real kernel state against what the plugin reported and what the spec (1.1.0) requires. Checks cite the requirement (P-numbers of the CNI spec checklist) and the SPEC.md section; every failure shows expected vs observed, the plugin's stdout/stderr, the state diff, a one-line command that reruns exactly that check at that version (sandboxed, exit 1 while the failure persists) and the plugin calls by hand (cnidbg exec invoke … --sandbox, with their env and stdin).

Severity: MUST violations fail; SHOULD violations warn, except the ones that hurt in production (leaks after DEL, results that describe what is not there, a DEL that fails once the netns is gone, a CHECK that passes on a broken attachment), which the default profile fails. The Go plugins' known departures from the spec are warnings. --profile spec-minimum fails only MUSTs; --strict fails on any warning.

With --served (cnidbg-ref only), every case's sandbox host also runs its own plugin server (cnidbg-ref --serve), started before the check and stopped after it, so cases run at once never share one; a case whose server died before the check was done fails, since its plugin calls fell back to standalone. Each result gives its server's pid and the ADD and DEL requests it served.

A check the versions tested lack (CHECK before 0.4.0, STATUS and GC before 1.1.0) is reported as skipped, with why; a run in which no selected check applies is a usage error (exit 2, NO_CASES), so a CI gate can't pass having tested nothing.

Every finding names the plugin it is about. Under --role chained, a finding that shows with the plugins before the one under test alone (the same check, at the same version, without it) is about them: it is reported apart, as context, and does not decide the exit status.`,
    {
      '0': 'every required check passed',
      '1': 'a required check failed',
      '2': "usage or config error (bad flags, unreadable config, plugin not found, an --output that can't be written, no selected check applying at the versions tested: NO_CASES)",
      '3': 'environment not ready (not root, no ip(8), nft, tc, …)',
      '70': 'internal error in cnidbg',
    },
  )

  static override examples = [
    {
      command: '<%= config.bin %> conformance fixtures/conf/upstream-bridge.conflist --cni-path /usr/lib/cni',
      description: 'Upstream bridge + host-local at every version they claim',
    },
    {
      command:
        '<%= config.bin %> conformance my-plugin.conflist --cni-path ./bin --reporter junit --output junit.xml --reporter tap',
      description: 'Gate CI: JUnit to a file, TAP on stdout',
    },
    {
      command: '<%= config.bin %> conformance my.conflist --only "del.*" --versions 1.0.0,1.1.0 --parallel 4',
      description: 'Only the DEL checks, two versions, four cases at once',
    },
    {
      command: '<%= config.bin %> conformance ipam.conf --role ipam --cni-path /usr/lib/cni',
      description: 'Test the IPAM plugin named in ipam.type in the IPAM role',
    },
    {
      command: '<%= config.bin %> conformance fixtures/conf/ref.conflist --cni-path dist/plugins --served',
      description: "cnidbg-ref in served mode: a plugin server of its own in every case's sandbox",
    },
  ]

  static override flags = {
    'cni-path': runtimeFlags['cni-path'],
    host: Flags.boolean({
      summary:
        'Run the plugins in the real host namespace instead of a sandbox (for plugins that need real host resources).',
    }),
    only: Flags.string({
      multiple: true,
      summary: 'Run only these check ids or requirement ids (globs, comma-separated), e.g. "del.*,P100".',
    }),
    output: Flags.string({multiple: true, summary: 'Write the reporter given just before to this file.'}),
    parallel: Flags.integer({
      default: 4,
      min: 1,
      summary: 'Cases run at once (each in its own sandbox); they mostly wait on plugin processes, so 4 suits 2 cores.',
    }),
    profile: Flags.string({
      default: 'default',
      options: ['default', 'spec-minimum'],
      summary: 'default also fails the production-critical SHOULDs; spec-minimum fails only MUSTs.',
    }),
    reporter: Flags.string({
      multiple: true,
      options: [...REPORTERS],
      summary: 'pretty (live view in a TTY), tap (TAP 14), junit (XML), json. Repeatable, each with --output FILE.',
    }),
    served: Flags.boolean({
      summary:
        "Test cnidbg-ref's served mode: each case's sandbox host runs its own plugin server (PLUGIN --serve), which the case's ADD and DEL go through, and which stops with the case. The plugin under test must be cnidbg-ref; not with --host.",
    }),
    role: Flags.string({
      options: ['interface', 'chained', 'ipam', 'loopback'],
      summary:
        'Override the role inferred from the config (loopback: a plugin that configures lo whatever CNI_IFNAME says, recognised by itself from a result naming lo).',
    }),
    skip: Flags.string({multiple: true, summary: 'Skip these check ids or requirement ids (globs, comma-separated).'}),
    strict: Flags.boolean({summary: 'Warnings count as failures.'}),
    timeout: Flags.integer({
      default: 30,
      max: MAX_TIMER_SECONDS,
      min: 1,
      summary: 'Seconds per plugin call; a hang is a failure, never a hung run.',
    }),
    versions: Flags.string({
      summary: 'Comma-separated spec versions. Default: every version the plugins claim that the spec knows.',
    }),
  }

  static override summary = 'Check a CNI plugin against the spec, in throwaway namespaces.'

  public async run(): Promise<ConformanceReport> {
    const {args, flags, raw} = await this.parse(Conformance)
    const targets = pairReporterOutputs(raw as Array<{type: string; flag?: string; input: string}>)
    checkReportPaths(targets.flatMap((t) => (t.output === undefined || t.output === '-' ? [] : [t.output])))
    let live = 'plain'
    const report = await conformance(
      {
        cniPath: splitCniPath(flags['cni-path']),
        conf: args.conf,
        host: flags.host,
        only: flags.only,
        parallel: flags.parallel,
        profile: flags.profile as Profile,
        role: flags.role as PluginRole | undefined,
        served: flags.served,
        skip: flags.skip,
        strict: flags.strict,
        timeoutSeconds: flags.timeout,
        versions: flags.versions
          ?.split(',')
          .map((v) => v.trim())
          .filter(Boolean),
      },
      (state) => {
        const view = renderConformanceProgress(state, {json: this.jsonEnabled(), strict: flags.strict})
        live = view.mode
        return view
      },
    )
    // Under --json a json reporter's file holds the same envelope as stdout, so both parse the same way.
    const envelope = this.jsonEnabled()
      ? {
          command: (this.id ?? 'conformance').replaceAll(':', ' '),
          status: conformanceStatus(report, flags.strict),
          warnings: this.warnings,
        }
      : undefined
    const {files, stdout} = formatReports(report, targets, {
      envelope,
      json: this.jsonEnabled(),
      listChecks: live !== 'ink',
      strict: flags.strict,
    })
    // stdout first: a file that cannot be written after all (checked before the run) loses nothing else.
    if (stdout !== undefined) this.log(stdout.replace(/\n$/, ''))
    // --strict: warnings fail the run as well as the reporters.
    process.exitCode = conformanceStatus(report, flags.strict)
    try {
      writeReportFiles(files)
    } catch (error) {
      if (!(error instanceof UsageError)) throw error
      // Thrown, it would replace the report that --json prints next with an error envelope.
      if (this.jsonEnabled()) this.warnings.push(error.message)
      else this.logToStderr(`${chalk.red('Error:')} ${visible(error.message)}`)
      process.exitCode = EXIT.USAGE
    }
    return report
  }
}
