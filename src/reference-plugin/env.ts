import {CniError, CODE} from './errors.js'

/** What the runtime told us through the environment (SPEC §2 "Parameters"). */
export interface CmdArgs {
  command: string
  containerID: string
  netns: string
  /**
   * Where to open CNI_NETNS for kernel work: the same path, or that path in the runtime's mount
   * namespace (/proc/<pid>/root/…) when the plugin server works for a client that sees other mounts.
   */
  netnsPath: string
  ifname: string
  /** Raw CNI_ARGS. */
  args: string
  /** CNI_PATH split on ':' (empty entries dropped). */
  path: string[]
  /** The environment we were started with: delegates get exactly this (SPEC §4). */
  env: NodeJS.ProcessEnv
}

export const ATTACHMENT_VERBS = ['ADD', 'DEL', 'CHECK'] as const
const REQUIRED: Record<string, string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  // SPEC §2 DEL: CNI_NETNS is optional (the namespace may already be gone).
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  STATUS: [],
  GC: [],
}

// SPEC §3 "Attachment Parameters" and pkg/utils/utils.go: the container ID rule.
const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/

/** The Linux interface-name rules (IFNAMSIZ 16 including NUL), as libcni's ValidateInterfaceName. */
export function ifnameProblem(name: string): string | undefined {
  if (name === '') return 'is empty'
  if (name === '.' || name === '..') return `"${name}" is not a valid interface name`
  if (Buffer.byteLength(name) > 15) return `"${name}" is ${Buffer.byteLength(name)} bytes; Linux allows at most 15`
  if (/[/:\s]/.test(name)) return `"${name}" contains "/", ":" or whitespace`
  return undefined
}

/** Reads and validates the CNI_* variables a verb needs. Throws code 4 naming the variable (SPEC §5 Error). */
export function readCmdArgs(env: NodeJS.ProcessEnv): CmdArgs {
  const command = env.CNI_COMMAND ?? ''
  const missing = (REQUIRED[command] ?? []).filter((k) => !env[k])
  if (missing.length > 0) {
    throw new CniError(
      CODE.INVALID_ENV,
      `required environment variable${missing.length > 1 ? 's' : ''} ${missing.join(', ')} missing for ${command}`,
      `set ${missing.join(', ')} as SPEC §2 "Parameters" requires`,
    )
  }
  const args: CmdArgs = {
    command,
    containerID: env.CNI_CONTAINERID ?? '',
    netns: env.CNI_NETNS ?? '',
    netnsPath: env.CNI_NETNS ?? '',
    ifname: env.CNI_IFNAME ?? '',
    args: env.CNI_ARGS ?? '',
    path: (env.CNI_PATH ?? '').split(':').filter(Boolean),
    env,
  }
  if ((ATTACHMENT_VERBS as readonly string[]).includes(command)) {
    if (!CONTAINER_ID.test(args.containerID)) {
      throw new CniError(
        CODE.INVALID_ENV,
        `CNI_CONTAINERID "${args.containerID}" has invalid characters`,
        'it must start with a letter or digit, followed by letters, digits, "_", "." or "-"',
      )
    }
    const problem = ifnameProblem(args.ifname)
    if (problem) throw new CniError(CODE.INVALID_ENV, `CNI_IFNAME ${problem}`, 'use a name of 1–15 bytes, e.g. eth0')
  }
  return args
}
