// What the fuzz test (test/reference-plugin/fuzz.ts) and its worker (fuzz-worker.ts) share: the
// sandbox's names, a case, an observation, and the placeholders a generated value uses for them.
// Generated values name the sandbox by placeholder ("{BR}", "{BYPID}"…), so a counterexample reads the
// same, and replays from its seed, whatever names and pids this run's sandbox got.

/** The stub IPAM plugin's name: a file in the sandbox's CNI_PATH that prints the case's result. */
export const IPAM_TYPE = 'fzipam'

export interface World {
  /** A bridge in the node namespace; a payload enslaving anything to it is caught by its port list. */
  bridge: string
  /** A link a payload tries to create in the node namespace. */
  clink: string
  /** A file a payload tries to create. */
  canary: string
  podName: string
  /** The pod namespace's path (/run/netns/…), the valid CNI_NETNS. */
  pod: string
  /** A process in the pod namespace (for `netns <pid>` payloads and to read its links). */
  podPid: number
  /** A namespace that is neither the node's nor the pod's: nothing may ever change in it. */
  byName: string
  by: string
  byPid: number
  /** A scratch dir (absolute CNI_NETNS plants go here); the worker's cwd is `cwd` inside it. */
  tmp: string
  cwd: string
  /** CNI_PATH of a case with a stub IPAM: holds only the stub. */
  stubDir: string
  /** CNI_PATH otherwise: the built plugins, whose cnidbg-ipam runs in-process (the worker is their sibling). */
  plugins: string
  /** The built cnidbg-ref (shell front + bundle). */
  front: string
}

export interface FuzzCase {
  /** In the worker's process through runPlugin, or the built program with its shell front. */
  mode: 'inproc' | 'front'
  /** CNI_* variables (CNI_COMMAND is set per verb); undefined leaves one unset. */
  env: Record<string, string | undefined>
  /** The network config, as stdin bytes. */
  stdin: string
  /** The IPAM: the built cnidbg-ipam (config's ipam section), or the stub printing `ipam` for every verb. */
  stub: boolean
  ipam: string
  /** A path (relative: to the worker's cwd) to create as a symlink to the pod namespace first. */
  plant?: string
  /** After a successful ADD at 1.1.0, also run GC with this attachment listed as valid. */
  gc?: boolean
}

/**
 * A link as `ip -j addr show` prints it (ifindex, flags, mtu, master, address, ifalias, its
 * addresses…), without what follows the carrier (operstate, LOWER_UP) or the lifetimes of addresses.
 */
export type LinkInfo = Record<string, unknown>

/**
 * One moment of the world, from netlink dumps of the three namespaces; link names are their bytes as
 * latin1 strings, routes (every table, both families) are `ip -j` objects as JSON text.
 */
export interface Snap {
  node: Record<string, LinkInfo>
  nodeRoutes: string[]
  /** The pod's link names (its state is podState). */
  pod: string[]
  podState: {links: Record<string, LinkInfo>; routes: string[]}
  by: Record<string, LinkInfo>
  byRoutes: string[]
  /** The canary bridge's ports: the node links whose master it is. */
  ports: string[]
  canary: boolean
}

export interface Outcome {
  stdout: string
  exitCode: number
  stderr?: string
}

/** Per step of a case (CNIDBG_FUZZ_PROFILE): ms of wall time, of the worker's CPU, of its children's CPU. */
export type Profile = Record<string, [wall: number, self: number, children: number]>

export interface Observation {
  add: Outcome
  del: Outcome
  base: Snap
  afterAdd: Snap
  /** After ADD succeeded at 1.1.0: GC with this attachment listed as valid (it must keep it). */
  gc?: Outcome & {snap: Snap}
  afterDel: Snap
  planted?: string
  /** cnidbg-ipam's reservations left after DEL (file names under /var/lib/cni/networks). */
  leases: string[]
  /** What the worker could not put back after the case (then later cases are not trustworthy). */
  unrestored: string[]
  profile?: Profile
}

const PLACEHOLDER = /\{(BR|CLINK|CANARY|BYNAME|BYPID|PODNAME|PODPID|POD|TMP)\}/g

export function subst(text: string, w: World): string {
  return text.replace(PLACEHOLDER, (_m, k: string) => {
    switch (k) {
      case 'BR':
        return w.bridge
      case 'CLINK':
        return w.clink
      case 'CANARY':
        return w.canary
      case 'BYNAME':
        return w.byName
      case 'BYPID':
        return String(w.byPid)
      case 'PODNAME':
        return w.podName
      case 'PODPID':
        return String(w.podPid)
      case 'POD':
        return w.pod
      default:
        return w.tmp
    }
  })
}

/**
 * A pid placeholder in a word with other bytes iproute2 reads as part of a number ("{BYPID}7",
 * "-{BYPID}", "0x{BYPID}") would name another process: a payload moving a link there could reach a
 * namespace outside the sandbox. Generators pass every value through this: a digit after a pid gets an
 * "x" between them, and a digit, sign, "x" or hex letter before one gets a "z" (no number has either
 * there, in any base strtol reads).
 */
export function separatePids(text: string): string {
  return text
    .replace(/(\{(?:BY|POD)PID\})(?=[0-9]|\{(?:BY|POD)PID\})/g, '$1x')
    .replace(/([0-9a-fx+-])(?=\{(?:BY|POD)PID\})/gi, '$1z')
}

/** The case with its placeholders resolved (the worker runs this; the test checks against it). */
export function substitute(c: FuzzCase, w: World): FuzzCase {
  const env: Record<string, string | undefined> = {}
  for (const [k, v] of Object.entries(c.env)) env[k] = v === undefined ? undefined : subst(v, w)
  return {
    ...c,
    env,
    stdin: subst(c.stdin, w),
    ipam: subst(c.ipam, w),
    plant: c.plant === undefined ? undefined : subst(c.plant, w),
  }
}

/**
 * The word iproute2 takes after "netns" from a value pasted there: leading blanks and line
 * continuations skipped, a quoted word without its quotes, cut at a blank, "#" or NUL.
 */
export function firstIpWord(value: string): string {
  const v = value
    .split('\0')[0]!
    .split('#')[0]!
    .replace(/^(?:[ \t\r\n]|\\\n)+/, '')
  const q = v[0]
  if (q === '"' || q === "'") return v.slice(1).split(q)[0]!
  return v.split(/[ \t\r\n]/)[0]!
}

/** A number iproute2 would take for a pid (strtol, any base). */
export const INTEGER_WORD = /^[+-]?(?:0x[0-9a-f]+|[0-9]+)$/i

/**
 * Why a case (placeholders resolved) could aim `ip` at a process other than the sandbox's (`pids`):
 * a number after "netns" anywhere, or a CNI_NETNS iproute2 would read as a pid. The worker refuses
 * such a case; the generators must never make one (the fuzz test checks them against this).
 */
export function foreignPid(c: FuzzCase, pids: ReadonlySet<string>): string | undefined {
  const values = [...Object.values(c.env), c.stdin, c.ipam, c.plant].filter((v): v is string => v !== undefined)
  for (const v of values) {
    for (const m of v.matchAll(/netns[\s"'\\]*([+-]?(?:0x[0-9a-f]+|[0-9]+))(?![0-9a-z])/gi)) {
      if (!pids.has(m[1]!)) return `"netns ${m[1]}" names a process outside the sandbox`
    }
  }
  const netns = c.env.CNI_NETNS
  if (netns === undefined) return undefined
  // How iproute2 reads the word after "netns": a path, a name under /run/netns, or a pid.
  const word = firstIpWord(netns)
  return INTEGER_WORD.test(word) && !pids.has(word) ? `CNI_NETNS starts with the pid ${word}` : undefined
}

/**
 * A CNI_NETNS that iproute2 could read as the pid of a process outside the sandbox gets a letter in
 * front (only the sandbox's own pids, by placeholder, may be named).
 */
export function noForeignPid(value: string): string {
  return INTEGER_WORD.test(firstIpWord(value)) ? `n${value}` : value
}
