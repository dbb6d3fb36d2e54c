import {Flags} from '@oclif/core'

import {BaseCommand, describe} from '../../cli/base-command.js'
import {installRef, type RefInstallResult} from '../../services/ref.js'

export default class RefInstall extends BaseCommand<RefInstallResult> {
  static override description = describe(
    'Installs the reference CNI plugins (cnidbg-ref: a veth per pod routed through the node, and cnidbg-ipam: host-local-style IPAM) into a CNI bin dir, and writes a conflist that chains cnidbg-ref with portmap. The pod CIDR comes from --subnet, or from the subnet file the cnidbg node daemon writes (default /run/cnidbg/subnet.env). The JS bundles need `node` on PATH; --sea installs the single-executable build instead.\n\nFor fast pod start-up, run the plugin server once per node (`cnidbg-ref --serve`, as root in the node’s network namespace): the plugin then hands ADD and DEL to it instead of starting Node for each pod, and does the work itself whenever no server runs (docs/reference-plugin.md).',
    {
      '0': 'installed',
      '2': 'usage error: bad flags, or --bin-dir/--conf-dir is not a directory path (a file in the way, ENOTDIR, ENOENT)',
      '3': 'can’t write there (read-only file system, permission denied, disk full), or the plugins are not built',
      '70': 'internal error in cnidbg (re-run with --debug and report it)',
    },
  )

  static override examples = [
    '<%= config.bin %> ref install',
    '<%= config.bin %> ref install --subnet 10.244.1.0/24 --mtu 1450',
    '<%= config.bin %> ref install --bin-dir /tmp/cni/bin --conf-dir /tmp/cni/net.d --json',
  ]

  static override flags = {
    'bin-dir': Flags.string({default: '/opt/cni/bin', summary: 'Where to put cnidbg-ref and cnidbg-ipam.'}),
    'conf-dir': Flags.string({default: '/etc/cni/net.d', summary: 'Where to write 10-<name>.conflist.'}),
    mtu: Flags.integer({summary: 'MTU of the pod veths (default: the subnet file’s CNIDBG_MTU, else 1500).'}),
    name: Flags.string({default: 'cnidbg', summary: 'Network name in the conflist.'}),
    sea: Flags.boolean({summary: 'Install the single-executable build (built with CNIDBG_BUILD_SEA=1).'}),
    subnet: Flags.string({exclusive: ['subnet-file'], summary: 'A fixed pod CIDR for this node, e.g. 10.244.1.0/24.'}),
    'subnet-file': Flags.string({summary: 'The node daemon’s subnet file (default /run/cnidbg/subnet.env).'}),
  }

  static override summary = 'Install the reference CNI plugins and their conflist.'

  public async run(): Promise<RefInstallResult> {
    const {flags} = await this.parse(RefInstall)
    const result = installRef({
      binDir: flags['bin-dir'],
      confDir: flags['conf-dir'],
      mtu: flags.mtu,
      name: flags.name,
      sea: flags.sea ?? false,
      subnet: flags.subnet,
      subnetFile: flags['subnet-file'],
    })
    if (!this.jsonEnabled()) {
      for (const e of result.executables) this.log(`installed ${e}`)
      this.log(`wrote ${result.conflist}`)
      const ref = result.executables.find((e) => e.endsWith('/cnidbg-ref'))
      if (!result.sea && ref) this.log(`optional, for fast pod start-up: run the plugin server here: ${ref} --serve`)
    }
    return result
  }
}
