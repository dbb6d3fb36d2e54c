import {Flags} from '@oclif/core'

import {describe} from '../../cli/base-command.js'
import {ExecCommand} from '../../cli/exec-command.js'
import {attachmentFlags, netnsFlag, networkArgs, runtimeFlags} from '../../cli/flags.js'
import {execAdd, type ExecResult} from '../../services/exec.js'

export default class ExecAdd extends ExecCommand {
  static override args = networkArgs

  static override description = describe(
    `Runs ADD for every plugin of a network config list, in order, the way a container runtime (libcni) does: each plugin gets the previous one's result as prevResult, and the final result is cached in libcni's format so check and del can use it.

Beyond cnitool: --netns auto makes a throwaway container namespace; --sandbox runs the plugins from a throwaway host namespace with a private /var/lib/cni and /run/cni, so bridges, iptables rules and IPAM files never touch this machine (it lives until the matching del); --rm does ADD, prints, DEL and removes everything. A failed ADD is rolled back with DEL (SPEC §3) unless --no-rollback. Every result is checked against the spec and violations are shown as warnings naming the requirement (P-numbers).`,
  )

  static override examples = [
    {
      command: '<%= config.bin %> exec add mynet /run/netns/pod1',
      description: 'cnitool-style: network "mynet" from /etc/cni/net.d into an existing netns',
    },
    {
      command: '<%= config.bin %> exec add --conf fixtures/conf/upstream-bridge.conflist --cni-path /usr/lib/cni --rm',
      description: 'One-shot smoke test of the upstream bridge plugin, leaving nothing behind',
    },
    {
      command: '<%= config.bin %> exec add --conf my.conflist --netns auto --sandbox --json > att.json',
      description: 'Keep the attachment (in a sandbox) and save it for check/del',
    },
    {
      command:
        '<%= config.bin %> exec add mynet /run/netns/pod1 --args \'IgnoreUnknown=1;K8S_POD_NAME=web-0\' --cap-args \'{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}\' -v',
      description: 'Kubelet-style CNI_ARGS, capability args, and every invocation shown',
    },
  ]

  static override flags = {
    ...runtimeFlags,
    ...attachmentFlags,
    ...netnsFlag,
    rm: Flags.boolean({summary: 'ADD, print, DEL, then remove the throwaway namespaces and sandbox.'}),
    rollback: Flags.boolean({
      allowNo: true,
      default: true,
      summary: 'On a failed ADD, run DEL for the whole list (SPEC §3). --no-rollback keeps the mess for inspection.',
    }),
    sandbox: Flags.boolean({
      summary: 'Run the plugins from a throwaway sandboxed host (own netns, private /var/lib/cni and /run/cni).',
    }),
  }

  static override summary = 'ADD a container to a network, like a runtime would.'

  public async run(): Promise<ExecResult> {
    const parsed = await this.parse(ExecAdd)
    return this.finish(await execAdd(await this.toOptions(parsed)))
  }
}
