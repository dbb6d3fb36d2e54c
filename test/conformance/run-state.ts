import {EventEmitter} from 'node:events'
import t from 'tap'

import {RunState, type RunSnapshot} from '../../src/conformance/run-state.js'
import {failDel, mixedReport, passAdd, report, skipCheck, warnVersion} from '../helpers/conformance-fixtures.js'
import {fakeClock} from '../helpers/ink.js'

t.test('counts, running and finished follow the events', async (t) => {
  const clock = fakeClock()
  const state = new RunState({now: clock.now, total: 4})
  const seen: RunSnapshot[] = []
  state.on('change', (s) => seen.push(s))
  t.match(state.snapshot, {startedAt: clock.now(), total: 4, running: [], finished: [], counts: {passed: 0, failed: 0}})

  state.checkStarted({id: 'add.result-shape', version: '1.0.0', title: 'ADD'})
  clock.advance(100)
  state.apply('check:start', {id: 'del.idempotent', version: '1.0.0', title: 'DEL'})
  t.same(
    state.snapshot.running.map((r) => [r.id, r.startedAt - state.snapshot.startedAt]),
    [
      ['add.result-shape', 0],
      ['del.idempotent', 100],
    ],
  )
  state.apply('check:end', passAdd)
  state.checkEnded(failDel)
  state.checkEnded(warnVersion)
  state.checkEnded(skipCheck)
  t.same(state.snapshot.running, [])
  t.same(state.snapshot.counts, {passed: 1, failed: 1, warned: 1, skipped: 1})
  t.same(
    state.snapshot.finished.map((r) => r.id),
    ['add.result-shape', 'del.idempotent', 'version.ordering', 'check.after-add'],
  )
  t.equal(seen.length, 6, 'one change per event')
  t.not(seen[4], seen[5], 'a new snapshot object every time')
  t.equal(seen[0].running.length, 1, 'old snapshots are not mutated')
  t.notOk(state.done)
  clock.advance(900)
  t.equal(state.elapsedMs(), 1000)
})

t.test('the same id at two versions runs side by side', async (t) => {
  const state = new RunState()
  state.checkStarted({id: 'del.idempotent', version: '0.4.0', title: 'DEL'})
  state.checkStarted({id: 'del.idempotent', version: '1.0.0', title: 'DEL'})
  state.checkStarted({id: 'del.idempotent', version: '1.0.0', title: 'DEL (restarted)'})
  t.same(
    state.snapshot.running.map((r) => `${r.version} ${r.title}`),
    ['0.4.0 DEL', '1.0.0 DEL (restarted)'],
    'a restart replaces the entry',
  )
  state.checkEnded(failDel)
  t.same(
    state.snapshot.running.map((r) => r.version),
    ['0.4.0'],
  )
})

t.test('done freezes the clock and takes the report summary', async (t) => {
  const clock = fakeClock()
  const state = new RunState({now: clock.now})
  state.checkStarted({id: 'x.y', version: null, title: 'X'})
  clock.advance(2500)
  const r = report([passAdd], {summary: {passed: 7, failed: 0, warned: 0, skipped: 0}})
  state.apply('done', r)
  clock.advance(10_000)
  t.ok(state.done)
  t.equal(state.elapsedMs(), 2500)
  t.same(state.snapshot.running, [], 'nothing is running after done')
  t.same(state.snapshot.counts, {passed: 7, failed: 0, warned: 0, skipped: 0})
  t.equal(state.snapshot.report, r)
})

t.test('attach subscribes to a runner and detach unsubscribes', async (t) => {
  const runner = new EventEmitter()
  const state = new RunState()
  const detach = state.attach(runner)
  t.equal(runner.listenerCount('check:end'), 1)
  runner.emit('check:start', {id: 'a.b', version: '1.0.0', title: 'A'})
  runner.emit('check:end', passAdd)
  runner.emit('done', mixedReport())
  t.equal(state.snapshot.finished.length, 1)
  t.ok(state.done)
  detach()
  t.equal(runner.listenerCount('check:start') + runner.listenerCount('check:end') + runner.listenerCount('done'), 0)
  runner.emit('check:end', failDel)
  t.equal(state.snapshot.finished.length, 1, 'no events after detach')
})
