import {Args, Flags} from '@oclif/core'

import {BaseCommand, describe} from '../../cli/base-command.js'
import {MAX_TIMER_SECONDS} from '../../cli/flags.js'
import {readStdinText} from '../../cli/stdin.js'
import {EXIT} from '../../core/exit-codes.js'
import {execInvoke, type ExecResult} from '../../services/exec.js'
import {renderInvocation} from '../../ui/text/exec-result.js'

export default class ExecInvoke extends BaseCommand<ExecResult> {
  static override args = {
    plugin: Args.string({description: 'The plugin binary (a path).', required: true}),
  }

  static override description = describe(
    `Runs one plugin once with exactly the CNI_* variables and stdin given, the way a runtime starts it, from the host of a sandbox: its own network namespace and a private /var/lib/cni and /run/cni, so nothing it does touches this machine. Unlike add/check/del nothing is derived: no request is built, no prevResult filled in, no cache read; a variable not given is unset.

The sandbox is named: the first call with a name makes it (kept between calls), later calls find it, and the call with --rm removes it (as does \`cnidbg sandbox gc --all\`). --netns NAME gives the plugin a container namespace of that sandbox as CNI_NETNS, made on first use. \`cnidbg conformance\` prints its by-hand reproduce lines in this form.`,
    {
      '0': 'the plugin exited 0',
      '1': 'the plugin failed',
      '2': 'usage error (bad --env, no plugin at that path)',
      '3': 'environment not ready (not root, no ip(8))',
    },
  )

  static override examples = [
    {
      command:
        '<%= config.bin %> exec invoke /usr/lib/cni/ptp --sandbox try1 --netns c0 --env CNI_COMMAND=ADD --env CNI_CONTAINERID=c1 --env CNI_IFNAME=eth0 --env CNI_PATH=/usr/lib/cni --stdin \'{"cniVersion":"1.0.0","name":"n","type":"ptp","ipam":{"type":"host-local","subnet":"10.9.0.0/24"}}\'',
      description: 'ADD with ptp in sandbox "try1" (made now), container namespace c0',
    },
    {
      command:
        '<%= config.bin %> exec invoke /usr/lib/cni/ptp --sandbox try1 --env CNI_COMMAND=DEL --env CNI_CONTAINERID=c1 --env CNI_IFNAME=eth0 --env CNI_PATH=/usr/lib/cni --stdin - --rm < del.json',
      description: 'DEL without CNI_NETNS, the request on stdin; then remove the sandbox',
    },
  ]

  static override flags = {
    env: Flags.string({multiple: true, summary: 'A CNI_* variable, NAME=VALUE (repeatable). CNI_COMMAND is required.'}),
    'host-link': Flags.string({
      multiple: true,
      summary:
        'A link the plugin expects on the host (a macvlan master, a host-device device): a veth, made when missing.',
    }),
    netns: Flags.string({summary: 'A container namespace of the sandbox (made when missing), passed as CNI_NETNS.'}),
    rm: Flags.boolean({summary: 'Remove the sandbox after this call.'}),
    sandbox: Flags.string({
      required: true,
      summary: 'The sandbox to run in: an id, or a name (a-z, 0-9, -); a new name makes a new kept sandbox.',
    }),
    stdin: Flags.string({
      default: '',
      summary: 'The request the plugin reads on stdin, as is; - reads it from our stdin.',
    }),
    timeout: Flags.integer({
      default: 30,
      max: MAX_TIMER_SECONDS,
      min: 1,
      summary: 'Seconds the call may take; then its process group is killed.',
    }),
  }

  static override summary = 'Run one plugin call exactly as given, in a sandbox.'

  public async run(): Promise<ExecResult> {
    const {args, flags} = await this.parse(ExecInvoke)
    const result = await execInvoke({
      env: flags.env ?? [],
      hostLinks: flags['host-link'],
      netns: flags.netns,
      plugin: args.plugin,
      rm: flags.rm,
      sandbox: flags.sandbox,
      stdin: flags.stdin === '-' ? await readStdinText({what: '--stdin -'}) : flags.stdin,
      timeoutSeconds: flags.timeout,
    })
    if (!this.jsonEnabled()) {
      const lines = result.invocations.flatMap((i) => renderInvocation(i))
      if (result.ok) this.log(lines.join('\n'))
      else this.logToStderr([...lines, `✗ ${result.failure ?? 'failed'}`].join('\n'))
    }
    process.exitCode = result.ok ? EXIT.OK : EXIT.FAILED
    return result
  }
}
