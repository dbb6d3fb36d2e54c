/* eslint-disable no-control-regex -- these tests look for raw escape and control characters on purpose */
import chalk from 'chalk'
import {render} from 'ink-testing-library'
import t from 'tap'

import {RunState} from '../../src/conformance/run-state.js'
import {ConformanceProgress, MAX_RUNNING_SHOWN} from '../../src/ui/conformance-progress.js'
import {failDel, mixedReport, passAdd, warnVersion} from '../helpers/conformance-fixtures.js'
import {fakeClock, settle, stripAnsi} from '../helpers/ink.js'

t.test('finished checks go to <Static>, running ones and counts stay live', async (t) => {
  const clock = fakeClock()
  const state = new RunState({now: clock.now, total: 4})
  const app = render(<ConformanceProgress state={state} />)
  t.teardown(() => app.unmount())
  t.equal(stripAnsi(app.lastFrame()), '0/4 done · 0 passed, 0 failed, 0 warned, 0 skipped · 0 running · 0.0s')

  state.checkStarted({id: 'add.result-shape', version: '1.0.0', title: 'ADD returns a valid result'})
  clock.advance(1500)
  state.checkStarted({id: 'del.idempotent', version: '1.0.0', title: 'DEL twice succeeds'})
  await settle()
  t.equal(
    stripAnsi(app.lastFrame()),
    [
      '▸ [1.0.0] add.result-shape: ADD returns a valid result (1.5s)',
      '▸ [1.0.0] del.idempotent: DEL twice succeeds (0ms)',
      '0/4 done · 0 passed, 0 failed, 0 warned, 0 skipped · 2 running · 1.5s',
    ].join('\n'),
  )

  state.checkEnded(passAdd)
  state.checkEnded(failDel)
  await settle()
  t.equal(
    stripAnsi(app.lastFrame()),
    [
      '✓ [1.0.0] add.result-shape: ADD returns a valid result (40ms)',
      '✗ [1.0.0] del.idempotent: DEL twice succeeds (12ms): bridge: second DEL failed',
      '2/4 done · 1 passed, 1 failed, 0 warned, 0 skipped · 0 running · 1.5s',
    ].join('\n'),
  )
})

t.test('failures are red, warnings yellow, and --strict shows warnings as failures', async (t) => {
  // tap runs tests with colours off; ink colours through the shared chalk instance, so turn it on here.
  const level = chalk.level
  chalk.level = 1
  t.teardown(() => {
    chalk.level = level
  })
  const state = new RunState()
  state.checkEnded(failDel)
  state.checkEnded(warnVersion)
  const app = render(<ConformanceProgress state={state} />)
  t.teardown(() => app.unmount())
  const frame = app.lastFrame() ?? ''
  t.match(frame, /\u001b\[31m✗\u001b\[39m \u001b\[31m\[1\.0\.0\] del\.idempotent/, 'failure: red symbol and label')
  t.match(frame, /\u001b\[33m!\u001b\[39m \[any version\]/, 'warning: yellow symbol, plain label')
  t.match(stripAnsi(frame), /^! \[any version\] version\.ordering/m)
  const strict = render(<ConformanceProgress state={state} strict />)
  t.teardown(() => strict.unmount())
  t.match(stripAnsi(strict.lastFrame()), /^✗ \[any version\] version\.ordering/m)
})

t.test('many running checks collapse into +N more', async (t) => {
  const state = new RunState()
  for (let i = 0; i < MAX_RUNNING_SHOWN + 3; i++)
    state.checkStarted({id: `add.c${i}`, version: '1.0.0', title: `check ${i}`})
  const app = render(<ConformanceProgress state={state} />)
  t.teardown(() => app.unmount())
  const lines = stripAnsi(app.lastFrame()).split('\n')
  t.equal(lines.filter((l) => l.startsWith('▸')).length, MAX_RUNNING_SHOWN)
  t.equal(lines.at(-2), '  +3 more running')
})

t.test('when the run is done only the static log remains', async (t) => {
  const clock = fakeClock()
  const state = new RunState({now: clock.now})
  const app = render(<ConformanceProgress state={state} />)
  t.teardown(() => app.unmount())
  state.checkStarted({id: 'add.result-shape', version: '1.0.0', title: 'ADD'})
  state.checkEnded(passAdd)
  clock.advance(4000)
  state.finish(mixedReport())
  await settle()
  t.equal(
    stripAnsi(app.lastFrame()),
    '✓ [1.0.0] add.result-shape: ADD returns a valid result (40ms)\n',
    'static line, nothing live below it',
  )
})

t.test('unmounting unsubscribes from the state', async (t) => {
  const state = new RunState()
  const app = render(<ConformanceProgress state={state} />)
  await settle()
  t.equal(state.listenerCount('change'), 1)
  app.unmount()
  t.equal(state.listenerCount('change'), 0)
})
