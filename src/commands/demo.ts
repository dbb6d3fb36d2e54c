import {Flags} from '@oclif/core'

import {BaseCommand, describe} from '../cli/base-command.js'
import {EXIT} from '../core/exit-codes.js'
import {demo, type DemoResult} from '../services/demo.js'
import {demoView} from '../ui/text/demo.js'

export default class Demo extends BaseCommand<DemoResult> {
  static override description = describe(
    `The main job, end to end, on the embedded lab: starts a 3-node cluster in network namespaces (API server, reference daemons, kubelet stand-ins, pods), runs the spec conformance suite on the reference plugin, traces a healthy cross-node pod pair, then breaks the network in six realistic ways, one at a time (a stale FDB entry, an iptables DROP, ip_forward off, a too-small underlay MTU, a NetworkPolicy that denies all ingress to a pod, and a Service with no endpoints: its only pod lost its labels) and lets trace find each fault, heals, and takes everything down. Ctrl-C at any point leaves the machine clean.`,
    {
      '0': 'every step did what it should',
      '1': 'a check failed or a fault was not diagnosed',
      '2': 'usage error',
      '3': 'environment not ready (not root, packages missing: run bash scripts/setup.sh)',
      '70': 'internal error',
    },
  )

  static override examples = [
    '<%= config.bin %> demo',
    '<%= config.bin %> demo --mode host-gw',
    '<%= config.bin %> demo --json > demo.json',
  ]

  static override flags = {
    mode: Flags.string({default: 'vxlan', options: ['vxlan', 'host-gw'], summary: 'How the lab connects its nodes.'}),
    name: Flags.string({default: 'demo', summary: 'Lab name (its namespaces are cnidbg-lab-<name>-…).'}),
    nodes: Flags.integer({default: 3, max: 8, min: 2, summary: 'Number of nodes.'}),
  }

  static override summary = 'Watch cnidbg do its job on a throwaway lab cluster.'

  public async run(): Promise<DemoResult> {
    const {flags} = await this.parse(Demo)
    const result = await demo({
      mode: flags.mode as 'vxlan' | 'host-gw',
      name: flags.name,
      nodes: flags.nodes,
      view: demoView({json: this.jsonEnabled(), log: (l) => this.log(l)}),
    })
    if (!this.jsonEnabled()) {
      this.log(
        `\n${result.ok ? '✓ Demo done' : '✗ Demo finished with problems'} in ${(result.durationMs / 1000).toFixed(1)}s:`,
      )
      for (const t of result.traces)
        this.log(
          `  ${t.ok ? '✓' : '✗'} ${t.title}: expected ${t.expected}, got ${t.reason ?? t.verdict}${t.node ? ` on ${t.node} (${t.direction})` : ''}`,
        )
      this.log('  The lab is gone; `ip netns list` is as before.')
    }
    process.exitCode = result.ok ? EXIT.OK : EXIT.FAILED
    return result
  }
}
