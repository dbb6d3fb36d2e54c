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

/** C0 controls and DEL: no name or path we pass on may carry them (they forge lines and commands). */
function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x20 || c === 0x7f) return true
  }
  return false
}

/**
 * The Linux interface-name rules (dev_valid_name; IFNAMSIZ 16 including NUL), checked on the bytes:
 * 1–15 bytes, not "." or "..", no "/", ":" or whitespace. The kernel's isspace also takes the byte
 * 0xA0, which UTF-8 uses inside characters such as "à"; and no "%" (see below). Stricter than the
 * kernel: no control characters, and no U+FFFD (Node reads bytes that are not UTF-8 as U+FFFD, so the name we would
 * create is not the one given).
 */
export function ifnameProblem(name: string): string | undefined {
  if (name === '') return 'is empty'
  const shown = JSON.stringify(name)
  if (name === '.' || name === '..') return `${shown} is not a valid interface name`
  // /proc/sys/net/ipv{4,6}/conf/ has these entries for every interface at once: the kernel refuses them.
  if (name === 'all' || name === 'default') return `${shown} is reserved by the kernel (net.*.conf.${name})`
  const bytes = Buffer.from(name)
  if (bytes.length > 15) return `${shown} is ${bytes.length} bytes; Linux allows at most 15`
  if (name.includes('\ufffd')) return `${shown} is not valid UTF-8`
  if (hasControl(name)) return `${shown} contains a control character`
  // The kernel reads "%d" in a new link's name as "the first free number" (dev_alloc_name) and refuses
  // any other "%": the link would not have the name asked for.
  if (name.includes('%')) return `${shown} contains "%"`
  for (const b of bytes) {
    if (b === 0x2f || b === 0x3a || b === 0x20 || b === 0xa0) {
      return `${shown} contains "/", ":" or whitespace (Linux also counts the byte 0xA0 as a space)`
    }
  }
  return undefined
}

/**
 * What CNI_NETNS may be for the commands that open it: an absolute path (a relative one would mean a
 * name under /run/netns, or a pid, to `ip … netns`), valid UTF-8, no control characters.
 */
export function netnsProblem(netns: string): string | undefined {
  const shown = JSON.stringify(netns)
  if (!netns.startsWith('/')) return `${shown} is not an absolute path`
  if (netns.includes('\ufffd')) return `${shown} is not valid UTF-8`
  if (hasControl(netns)) return `${shown} contains a control character`
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
    // DEL does not open CNI_NETNS (SPEC §2 DEL: it may be gone or unset), so a bad one does not fail it.
    const nsProblem = command === 'DEL' ? undefined : netnsProblem(args.netns)
    if (nsProblem) {
      throw new CniError(
        CODE.INVALID_ENV,
        `CNI_NETNS ${nsProblem}`,
        'pass the absolute path of the pod network namespace, e.g. /run/netns/<name>',
      )
    }
  }
  return args
}
