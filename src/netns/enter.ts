/**
 * The one door into a network namespace. Every place that runs a program inside a namespace gets its
 * argv from here, whichever runner then starts it (process/exec.ts, the plugin's lite runner, an
 * attached terminal, a shell job line). It imports nothing, so the reference plugin's bundle can use
 * it too.
 */

/** A namespace to enter: a name under /run/netns, or any path (/proc/<pid>/ns/net, a bind mount). */
export type NetnsRef = {name: string} | {path: string}

export interface EnterOptions {
  /**
   * Also show the program the namespace's own /sys (and /etc/netns files), as `ip netns exec` does by
   * mounting them in a private mount namespace. Plugins and interactive tools that read
   * /sys/class/net need it; it takes a name.
   */
  sysfs?: boolean
  /**
   * Also enter this mount namespace (a path to its nsfs file: /proc/<pid>/ns/mnt, /proc/<pid>/fd/<n>).
   * A sandbox keeps one per host view, made once with its own /sys and private state dirs
   * (sandbox.ts), instead of `sysfs`, which makes a new one per program.
   */
  mount?: string
  /**
   * The working directory inside, with `mount`: entering a mount namespace moves a process to that
   * namespace's root, so a relative program path (`--cni-path ./bin`) or argument would otherwise be
   * read from /. The directory is looked up in the namespace entered.
   */
  wd?: string
  /** The nsenter and ip to run (absolute paths where the caller resolved them). */
  nsenter?: string
  ip?: string
}

/** The argv that runs `argv` inside `ns`. */
export function inNetnsArgv(ns: NetnsRef, argv: readonly string[], opts: EnterOptions = {}): string[] {
  if (opts.sysfs) {
    if (opts.mount) throw new Error('a namespace is entered either with its own /sys or into a given mount namespace')
    if (!('name' in ns)) throw new Error('a namespace entered with its own /sys must have a name under /run/netns')
    return [opts.ip ?? 'ip', 'netns', 'exec', ns.name, ...argv]
  }
  const path = 'path' in ns ? ns.path : `/run/netns/${ns.name}`
  // nsenter opens both files before it enters either, so the net path is read in our mount namespace.
  const mount = opts.mount ? [`--mount=${opts.mount}`, ...(opts.wd ? [`--wd=${opts.wd}`] : [])] : []
  return [opts.nsenter ?? 'nsenter', ...mount, `--net=${path}`, '--', ...argv]
}
