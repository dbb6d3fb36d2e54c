import {Args, Flags} from '@oclif/core'

import {DEFAULT_CACHE_DIR} from '../runtime/cache.js'
import {DEFAULT_NETCONFPATH} from '../runtime/conf.js'
import {DEFAULT_CNI_PATH} from '../runtime/find.js'

/**
 * The most seconds a flag may give a timer: Node's setTimeout and setInterval take at most 2^31-1 ms,
 * and a longer delay fires after 1 ms (a plugin call would "time out" at once). Every seconds-valued
 * flag has it as its max, so a bigger value is a usage error.
 */
export const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000)

/** Shared flags: long names, a summary each, and the cnitool environment variables as fallbacks. */
export const runtimeFlags = {
  'cache-dir': Flags.string({
    env: 'CNIDBG_CACHE_DIR',
    summary: `Result cache dir (libcni format). Default ${DEFAULT_CACHE_DIR}, or the sandbox's own.`,
  }),
  'cni-path': Flags.string({
    default: DEFAULT_CNI_PATH.join(':'),
    env: 'CNI_PATH',
    summary: 'Colon-separated plugin dirs, like CNI_PATH. Earlier dirs win.',
  }),
  conf: Flags.string({
    char: 'c',
    summary:
      'Config list (.conflist) or single config (.conf) file; - reads stdin (text, ending within CNIDBG_STDIN_TIMEOUT seconds, default 10). Instead of a network name.',
  }),
  'netconf-path': Flags.string({
    default: DEFAULT_NETCONFPATH,
    env: 'NETCONFPATH',
    summary: 'Config dir searched for the network name.',
  }),
  timeout: Flags.integer({
    default: 30,
    max: MAX_TIMER_SECONDS,
    min: 1,
    summary: 'Seconds each plugin call may take; then its process group is killed.',
  }),
  verbose: Flags.boolean({
    char: 'v',
    summary: 'Show every plugin invocation: env, stdin, stdout, stderr, exit code, duration.',
  }),
}

export const attachmentFlags = {
  args: Flags.string({env: 'CNI_ARGS', summary: 'CNI_ARGS as K=V;K2=V2.'}),
  'cap-args': Flags.string({env: 'CAP_ARGS', summary: 'Capability args as JSON, e.g. {"portMappings":[…]}.'}),
  'container-id': Flags.string({summary: 'CNI_CONTAINERID. Default: derived from the netns path, as cnitool does.'}),
  ifname: Flags.string({
    default: 'eth0',
    env: 'CNI_IFNAME',
    summary: 'CNI_IFNAME: the interface name in the container.',
  }),
}

export const networkArgs = {
  network: Args.string({description: 'Network name to find in NETCONFPATH (omit with --conf).', required: false}),
  netns: Args.string({
    description: 'Container netns path (/run/netns/x or /proc/PID/ns/net), a name in /run/netns, or "auto".',
    required: false,
  }),
}

/**
 * `--netns X`: the NETNS argument as a flag, for scripts that name it (`--netns auto`). Same values;
 * giving both is an error unless they agree.
 */
export const netnsFlag = {
  netns: Flags.string({
    summary: 'The container netns, as the NETNS argument: a path, a name in /run/netns, or "auto" (add only).',
  }),
}
