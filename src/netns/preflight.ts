import {accessSync, constants} from 'node:fs'
import {delimiter, join} from 'node:path'

import {EnvironmentError} from '../core/errors.js'

/** Debian package that provides each binary cnidbg needs, for the "install it" suggestion. */
const PACKAGE_OF: Record<string, string> = {
  bridge: 'iproute2',
  ip: 'iproute2',
  iptables: 'iptables',
  'iptables-save': 'iptables',
  mount: 'mount',
  nft: 'nftables',
  nsenter: 'util-linux',
  openssl: 'openssl',
  ping: 'iputils-ping',
  sysctl: 'procps',
  tc: 'iproute2',
  tcpdump: 'tcpdump',
  unshare: 'util-linux',
}

export function findInPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // keep looking
    }
  }
  return undefined
}

/** Throws an EnvironmentError (exit 3) unless we are root and every binary is on PATH. */
export function requireEnvironment(binaries: readonly string[] = ['ip', 'nsenter', 'unshare', 'mount']): void {
  if (process.getuid && process.getuid() !== 0) {
    throw new EnvironmentError('cnidbg needs root to create network namespaces.', {
      code: 'NOT_ROOT',
      suggestions: [
        'Run it as root, e.g. sudo cnidbg …',
        'Namespaces, veths and mounts need CAP_SYS_ADMIN and CAP_NET_ADMIN.',
      ],
    })
  }
  requirePrograms(binaries)
}

/** The programs on PATH, for work that needs no root (`cnidbg agent-signer` runs as nobody). */
export function requirePrograms(binaries: readonly string[]): void {
  const missing = binaries.filter((b) => !findInPath(b))
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((b) => PACKAGE_OF[b] ?? b))]
    throw new EnvironmentError(
      `Required program${missing.length > 1 ? 's' : ''} not found on PATH: ${missing.join(', ')}.`,
      {
        code: 'MISSING_BINARY',
        suggestions: [
          `Install ${pkgs.join(' ')}: apt-get install -y ${pkgs.join(' ')}`,
          'Or run the project set-up: bash scripts/setup.sh',
        ],
      },
    )
  }
}
