/**
 * When to draw a live ink view. ink 6.8 only checks `is-in-ci` (style anchors §3.3): on a pipe it
 * would still write cursor-movement codes. So every live view gates itself here, as
 * @oclif/multi-stage-output does: ink only for people at a terminal, plain lines everywhere else.
 */

/** The same rule ink uses internally (the `is-in-ci` package): CI or CONTINUOUS_INTEGRATION set and not 0/false. */
export function isCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const set = (k: string) => k in env && env[k] !== '0' && env[k] !== 'false'
  return set('CI') || set('CONTINUOUS_INTEGRATION')
}

export interface LiveGateOptions {
  /** --json: nothing human goes anywhere. */
  json?: boolean
  /** Whether the stream we draw on is a terminal. Default: the stream's own isTTY. */
  isTTY?: boolean
  /** Running in CI. Default: isCi(). */
  ci?: boolean
}

export type LiveMode = 'none' | 'ink' | 'plain'

/**
 * Decides how a live view renders on `stream`: nothing under --json, ink at an interactive
 * terminal, plain lines in CI logs and pipes.
 */
export function liveMode(options: LiveGateOptions, stream: {isTTY?: boolean}): LiveMode {
  if (options.json) return 'none'
  const isTTY = options.isTTY ?? stream.isTTY === true
  const ci = options.ci ?? isCi()
  return isTTY && !ci ? 'ink' : 'plain'
}
