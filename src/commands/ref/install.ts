import {Flags} from '@oclif/core'
import {existsSync, mkdirSync, rmdirSync} from 'node:fs'
import {dirname, resolve} from 'node:path'

import {BaseCommand, describe} from '../../base-command.js'
import {EnvironmentError, UsageError} from '../../errors.js'
import {installRefPlugins, type RefInstallResult} from '../../reference-plugin/install.js'

// A path that can't be a directory there: the flag is wrong (exit 2).
const PATH_ERRORS: Record<string, string> = {
  EEXIST: 'a file is in the way',
  EISDIR: 'a directory is in the way',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the name is too long',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a part of the path is a file, not a directory',
}
// The path is right but this machine won't let us write there (exit 3).
const MACHINE_ERRORS: Record<string, string> = {
  EACCES: 'permission denied',
  EDQUOT: 'disk quota exceeded',
  ENOSPC: 'no space left on the device',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ETXTBSY: 'a running program is in the way (text file busy)',
}

/**
 * Node's recursive mkdir reports ENOENT for any failure below the first missing directory (e.g. on
 * a read-only file system): make that one directory alone to learn the real reason.
 */
function realMkdirError(e: NodeJS.ErrnoException): NodeJS.ErrnoException {
  if (e.code !== 'ENOENT' || e.syscall !== 'mkdir' || typeof e.path !== 'string') return e
  let p = resolve(e.path)
  while (dirname(p) !== p && !existsSync(dirname(p))) p = dirname(p)
  try {
    mkdirSync(p)
    rmdirSync(p)
    return e
  } catch (error) {
    return error as NodeJS.ErrnoException
  }
}

/** A filesystem error from installing as a one-line error naming the flag, or undefined if it is not one. */
function installError(err: unknown, dirs: {binDir: string; confDir: string}): Error | undefined {
  if (!(err instanceof Error)) return undefined
  const e = realMkdirError(err as NodeJS.ErrnoException)
  const code = e.code ?? ''
  const why = PATH_ERRORS[code] ?? MACHINE_ERRORS[code]
  if (!why || typeof e.path !== 'string') return undefined
  // The flag whose directory holds the path (the longer one, if one dir is inside the other).
  const under = (d: string) => (resolve(e.path as string) + '/').startsWith(resolve(d) + '/')
  const conf =
    under(dirs.confDir) && (!under(dirs.binDir) || resolve(dirs.confDir).length > resolve(dirs.binDir).length)
  const flag = conf ? '--conf-dir' : '--bin-dir'
  const dir = flag === '--conf-dir' ? dirs.confDir : dirs.binDir
  const message = `Can't install into ${flag} ${dir}: ${e.path}: ${why} (${code}).`
  const suggestions = [`Pick another directory: ${flag} DIR`]
  if (PATH_ERRORS[code]) return new UsageError(message, {cause: err, code: 'INSTALL_PATH', suggestions})
  suggestions.unshift(
    'Run as root, on a writable file system with free space (the default dirs are /opt/cni/bin and /etc/cni/net.d)',
  )
  return new EnvironmentError(message, {cause: err, code: 'INSTALL_NOT_WRITABLE', suggestions})
}

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
    let result: RefInstallResult
    try {
      result = installRefPlugins({
        binDir: flags['bin-dir'],
        confDir: flags['conf-dir'],
        mtu: flags.mtu,
        name: flags.name,
        sea: flags.sea ?? false,
        subnet: flags.subnet,
        subnetFile: flags['subnet-file'],
      })
    } catch (error) {
      throw installError(error, {binDir: flags['bin-dir'], confDir: flags['conf-dir']}) ?? error
    }
    if (!this.jsonEnabled()) {
      for (const e of result.executables) this.log(`installed ${e}`)
      this.log(`wrote ${result.conflist}`)
      const ref = result.executables.find((e) => e.endsWith('/cnidbg-ref'))
      if (!result.sea && ref) this.log(`optional, for fast pod start-up: run the plugin server here: ${ref} --serve`)
    }
    return result
  }
}
