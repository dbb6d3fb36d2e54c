import {UsageError} from '../core/errors.js'

/** Seconds `--conf -` waits for stdin to reach EOF; CNIDBG_STDIN_TIMEOUT overrides it. */
export const DEFAULT_STDIN_TIMEOUT_SECONDS = 10
export const STDIN_TIMEOUT_ENV = 'CNIDBG_STDIN_TIMEOUT'
/** Far above any real config, low enough that a runaway writer can't fill memory. */
export const MAX_STDIN_BYTES = 64 * 1024 * 1024

export interface StdinSource {
  isTTY?: boolean
  on(event: 'data', fn: (chunk: Buffer | string) => void): unknown
  on(event: 'end', fn: () => void): unknown
  on(event: 'error', fn: (err: Error) => void): unknown
  removeAllListeners(): unknown
  destroy(): unknown
}

export interface ReadStdinOptions {
  /** What is read, for the messages (e.g. "--conf -"). */
  what: string
  stream?: StdinSource
  timeoutMs?: number
  maxBytes?: number
}

/** The bound from CNIDBG_STDIN_TIMEOUT (seconds, may be fractional), else the default. */
export function stdinTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[STDIN_TIMEOUT_ENV]
  if (raw === undefined || raw === '') return DEFAULT_STDIN_TIMEOUT_SECONDS * 1000
  const s = Number(raw)
  if (!Number.isFinite(s) || s <= 0)
    throw new UsageError(`${STDIN_TIMEOUT_ENV}=${JSON.stringify(raw)} is not a positive number of seconds.`, {
      code: 'INVALID_STDIN_TIMEOUT',
      suggestions: [`e.g. ${STDIN_TIMEOUT_ENV}=60`],
    })
  return s * 1000
}

/**
 * Reads all of stdin as UTF-8 text for an input named "-". Whatever can't be a config is a usage
 * error (exit 2) with one line, never a hang or a stack trace: a terminal (nobody is piping), no
 * bytes at all, NUL bytes or invalid UTF-8, more than `maxBytes`, or no EOF within the time bound
 * (a writer that never finishes).
 */
export async function readStdinText(opts: ReadStdinOptions): Promise<string> {
  const stream = opts.stream ?? process.stdin
  const timeoutMs = opts.timeoutMs ?? stdinTimeoutMs()
  const maxBytes = opts.maxBytes ?? MAX_STDIN_BYTES
  const {what} = opts
  if (stream.isTTY)
    throw new UsageError(`${what}: stdin is a terminal, not a pipe or file.`, {
      code: 'STDIN_TTY',
      suggestions: [
        'Pipe the config in: cat my.conflist | cnidbg exec add --conf - --rm',
        'Or give a file: --conf FILE',
      ],
    })
  const bytes = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const stop = (err?: Error) => {
      clearTimeout(timer)
      stream.removeAllListeners()
      if (err) {
        // Closing our end makes a writer that is still going get EPIPE instead of blocking forever.
        stream.destroy()
        reject(err)
      } else resolve(Buffer.concat(chunks))
    }
    const timer = setTimeout(
      () =>
        stop(
          new UsageError(`${what}: stdin did not end within ${timeoutMs / 1000} s.`, {
            code: 'STDIN_TIMEOUT',
            suggestions: [
              'Close the writing end of the pipe (the writer must exit or close its stdout)',
              `Allow longer: ${STDIN_TIMEOUT_ENV}=SECONDS`,
            ],
          }),
        ),
      timeoutMs,
    )
    stream.on('data', (chunk) => {
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
      size += b.length
      if (size > maxBytes) {
        stop(
          new UsageError(`${what}: stdin is larger than ${maxBytes} bytes.`, {
            code: 'STDIN_TOO_LARGE',
            suggestions: ['Give a file instead: --conf FILE'],
          }),
        )
        return
      }
      chunks.push(b)
    })
    stream.on('end', () => stop())
    stream.on('error', (err) =>
      stop(new UsageError(`${what}: can't read stdin: ${err.message}`, {code: 'STDIN_UNREADABLE', cause: err})),
    )
  })
  if (bytes.length === 0 || bytes.toString('utf8').trim() === '')
    throw new UsageError(`${what}: stdin is empty.`, {
      code: 'STDIN_EMPTY',
      suggestions: ['Pipe the config in: cat my.conflist | cnidbg exec add --conf - --rm'],
    })
  const binary = new UsageError(`${what}: stdin is not text (NUL bytes or invalid UTF-8); a config is JSON.`, {
    code: 'STDIN_BINARY',
    suggestions: ['Check what is piped in, e.g. with: file -'],
  })
  if (bytes.includes(0)) throw binary
  try {
    return new TextDecoder('utf-8', {fatal: true}).decode(bytes)
  } catch {
    throw binary
  }
}
