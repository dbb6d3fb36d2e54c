/* eslint-disable no-control-regex -- these tests look for raw escape and control characters on purpose */
import t from 'tap'

import {RunState} from '../../src/conformance/run-state.js'
import {heartbeatLine, renderConformanceProgress} from '../../src/ui/render-conformance-progress.js'
import {failDel, mixedReport, passAdd, skipCheck, warnVersion} from '../helpers/conformance-fixtures.js'
import {FakeStream, fakeClock, settle, stripAnsi, waitFor} from '../helpers/ink.js'

t.test('--json renders nothing', async (t) => {
  const stream = new FakeStream(true)
  const state = new RunState()
  const p = renderConformanceProgress(state, {json: true, ci: false, stream: stream.asStream()})
  t.equal(p.mode, 'none')
  state.checkEnded(failDel)
  await p.stop()
  t.same(stream.chunks, [])
  t.equal(state.listenerCount('change'), 0)
})

t.test('plain mode: one line per finished check, in order, no escape codes', async (t) => {
  const stream = new FakeStream(false)
  const state = new RunState()
  state.checkEnded(passAdd) // finished before the view existed: still printed
  const p = renderConformanceProgress(state, {ci: false, stream: stream.asStream(), color: false, heartbeatMs: 0})
  t.equal(p.mode, 'plain', 'a pipe gets plain lines')
  state.checkStarted({id: 'del.idempotent', version: '1.0.0', title: 'DEL twice succeeds'})
  state.checkEnded(failDel)
  state.checkEnded(warnVersion)
  state.checkEnded(skipCheck)
  state.finish(mixedReport())
  await p.stop()
  t.same(stream.chunks.join('').split('\n'), [
    '✓ [1.0.0] add.result-shape: ADD returns a valid result (40ms)',
    '✗ [1.0.0] del.idempotent: DEL twice succeeds (12ms): bridge: second DEL failed',
    '! [any version] version.ordering: VERSION lists versions in order (10ms): bridge: supportedVersions is not sorted',
    '- [0.3.1] check.after-add: CHECK after ADD # succeeds: CHECK needs 0.4.0 # or later',
    '',
  ])
  t.equal(state.listenerCount('change'), 0, 'stop() unsubscribes')
  state.checkEnded(passAdd)
  t.equal(stream.chunks.length, 4, 'nothing after stop')
})

t.test('plain mode in CI even on a TTY, with --strict', async (t) => {
  const stream = new FakeStream(true)
  const state = new RunState()
  const p = renderConformanceProgress(state, {
    ci: true,
    stream: stream.asStream(),
    color: false,
    strict: true,
    heartbeatMs: 0,
  })
  t.equal(p.mode, 'plain')
  state.checkEnded(warnVersion)
  await p.stop()
  t.match(stream.text, /^✗ \[any version\] version\.ordering/)
})

t.test('plain mode: a heartbeat names the running check after a quiet interval', async (t) => {
  const stream = new FakeStream(false)
  const clock = fakeClock()
  const state = new RunState({now: clock.now, total: 3})
  const p = renderConformanceProgress(state, {ci: true, stream: stream.asStream(), color: false, heartbeatMs: 5})
  t.teardown(() => p.stop())
  state.checkStarted({id: 'gc.stale', version: '1.1.0', title: 'GC removes stale attachments'})
  clock.advance(32_000)
  await waitFor(() => stream.chunks.length > 0)
  t.equal(stream.chunks[0], '… 0/3 done, 32.0s: still running [1.1.0] gc.stale: GC removes stale attachments (32.0s)\n')
  state.finish(mixedReport())
  await p.stop()
})

t.test('heartbeatLine', async (t) => {
  const clock = fakeClock()
  const state = new RunState({now: clock.now})
  state.checkEnded(passAdd)
  t.equal(heartbeatLine(state.snapshot, clock.now() + 1500), '… 1 done, 1.5s')
  state.checkStarted({id: 'a.b', version: null, title: 'A'})
  state.checkStarted({id: 'c.d', version: null, title: 'C'})
  t.equal(
    heartbeatLine(state.snapshot, clock.now() + 65_000),
    '… 1 done, 65.0s: still running [any version] a.b: A (1m05s), +1 more',
  )
})

t.test('ink mode at a terminal: static lines written once, live part gone after stop', async (t) => {
  const stream = new FakeStream(true)
  const clock = fakeClock()
  const state = new RunState({now: clock.now})
  const p = renderConformanceProgress(state, {ci: false, stream: stream.asStream()})
  t.equal(p.mode, 'ink')
  state.checkStarted({id: 'del.idempotent', version: '1.0.0', title: 'DEL twice succeeds'})
  await settle()
  state.checkEnded(passAdd)
  state.checkEnded(failDel)
  state.finish(mixedReport())
  await p.stop()
  await p.stop() // idempotent
  const out = stripAnsi(stream.text)
  for (const line of [
    '✓ [1.0.0] add.result-shape: ADD returns a valid result (40ms)',
    '✗ [1.0.0] del.idempotent: DEL twice succeeds (12ms): bridge: second DEL failed',
  ]) {
    t.equal(out.split(line).length - 1, 1, `written once: ${line}`)
  }
  t.ok(/\u001b\[/.test(stream.text), 'ink drew with cursor movement')
  t.equal(state.listenerCount('change'), 0, 'ink app unmounted and unsubscribed')
  const written = stream.chunks.length
  state.checkEnded(passAdd)
  await settle()
  t.equal(stream.chunks.length, written, 'nothing drawn after stop')
})
