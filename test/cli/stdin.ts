/**
 * readStdinText: what `--conf -` accepts from stdin, and the one-line usage errors (exit 2) for
 * everything that can't be a config: a terminal, nothing, binary, too much, or no EOF in time.
 */
import {PassThrough} from 'node:stream'

import t, {type Test} from 'tap'

import {UsageError} from '../../src/core/errors.js'
import {readStdinText, stdinTimeoutMs, STDIN_TIMEOUT_ENV} from '../../src/cli/stdin.js'

const feed = (...chunks: Array<string | Buffer>): PassThrough => {
  const s = new PassThrough()
  for (const c of chunks) s.write(c)
  s.end()
  return s
}

t.test('text in chunks is returned whole', async (t) => {
  const text = '{"name": "é", "plugins": []}\n'
  const b = Buffer.from(text)
  t.equal(await readStdinText({stream: feed(b.subarray(0, 11), b.subarray(11)), timeoutMs: 5000, what: 'x'}), text)
})

const rejects = async (t: Test, stream: PassThrough, code: string, extra = {}) => {
  const err = await readStdinText({stream, timeoutMs: 5000, what: '--conf -', ...extra}).then(
    () => undefined,
    (e: unknown) => e,
  )
  t.ok(err instanceof UsageError, `${code}: a usage error`)
  t.match(err, {cnidbgCode: code, message: /^--conf -: [^\n]+$/, oclif: {exit: 2}}, `${code}: one line, exit 2`)
}

t.test('empty, whitespace only, NUL, invalid UTF-8, too large', async (t) => {
  await rejects(t, feed(), 'STDIN_EMPTY')
  await rejects(t, feed(' \n\t'), 'STDIN_EMPTY')
  await rejects(t, feed('{"a":\0}'), 'STDIN_BINARY')
  await rejects(t, feed(Buffer.from([0x7b, 0xc3, 0x28, 0x7d])), 'STDIN_BINARY')
  await rejects(t, feed('x'.repeat(100)), 'STDIN_TOO_LARGE', {maxBytes: 10})
})

t.test('a writer that never ends: timeout, and our end is closed', async (t) => {
  const s = new PassThrough()
  s.write('{"partial": ')
  await rejects(t, s, 'STDIN_TIMEOUT', {timeoutMs: 50})
  t.ok(s.destroyed, 'the stream is destroyed, so the process can exit')
})

t.test('a terminal is refused before any read', async (t) => {
  const s = Object.assign(new PassThrough(), {isTTY: true})
  await rejects(t, s, 'STDIN_TTY')
})

t.test(`${STDIN_TIMEOUT_ENV} sets the bound`, async (t) => {
  t.equal(stdinTimeoutMs({}), 10_000)
  t.equal(stdinTimeoutMs({[STDIN_TIMEOUT_ENV]: '2.5'}), 2500)
  t.throws(() => stdinTimeoutMs({[STDIN_TIMEOUT_ENV]: 'soon'}), {
    code: 'INVALID_STDIN_TIMEOUT',
    message: /CNIDBG_STDIN_TIMEOUT/,
  })
  t.throws(() => stdinTimeoutMs({[STDIN_TIMEOUT_ENV]: '0'}), {
    code: 'INVALID_STDIN_TIMEOUT',
    message: /CNIDBG_STDIN_TIMEOUT/,
  })
})
