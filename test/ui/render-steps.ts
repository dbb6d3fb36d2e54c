import t from 'tap'

import {renderSteps, stepLine} from '../../src/ui/render-steps.js'
import {StepTracker} from '../../src/core/step-tracker.js'
import {FakeStream, fakeClock, settle, stripAnsi} from '../helpers/ink.js'

t.test('--json renders nothing', async (t) => {
  const stream = new FakeStream(true)
  const tracker = new StepTracker(['a'])
  const view = renderSteps(tracker, {json: true, stream: stream.asStream(), title: 'T'})
  t.equal(view.mode, 'none')
  tracker.start('a')
  await view.stop()
  t.same(stream.chunks, [])
})

t.test('plain mode: one line per status change, detail updates are quiet', async (t) => {
  const stream = new FakeStream(false)
  const clock = fakeClock()
  const tracker = new StepTracker(['Create namespaces', 'Start the daemon'], {now: clock.now})
  const view = renderSteps(tracker, {ci: false, stream: stream.asStream(), title: 'Starting the lab', color: false})
  t.equal(view.mode, 'plain')
  tracker.start('Create namespaces')
  tracker.update('Create namespaces', 'node 2 of 3')
  clock.advance(1200)
  tracker.done('Create namespaces', '3 nodes')
  tracker.start('Start the daemon')
  tracker.fail('Start the daemon', 'exit 1')
  await view.stop()
  tracker.start('Create namespaces')
  t.same(stream.text.split('\n'), [
    'Starting the lab',
    '▸ Create namespaces',
    '✓ Create namespaces (1.2s): 3 nodes',
    '▸ Start the daemon',
    '✗ Start the daemon (0ms): exit 1',
    '',
  ])
  t.equal(tracker.listenerCount('change'), 0)
})

t.test('ink mode at a terminal, outside CI', async (t) => {
  const stream = new FakeStream(true)
  const tracker = new StepTracker(['one', 'two'])
  const view = renderSteps(tracker, {ci: false, stream: stream.asStream()})
  t.equal(view.mode, 'ink')
  tracker.start('one')
  await settle()
  tracker.done('one', 'ok')
  await view.stop()
  await view.stop()
  const out = stripAnsi(stream.text)
  t.match(out, '✓ one')
  t.match(out, '○ two')
  t.equal(tracker.listenerCount('change'), 0, 'unmounted')
})

t.test('stepLine', async (t) => {
  t.equal(stepLine({id: 'a', title: 'A', status: 'pending'}, 0, false), undefined)
  t.equal(stepLine({id: 'a', title: 'A', status: 'running', startedAt: 0, detail: 'x'}, 5000, false), '▸ A: x')
  t.equal(stepLine({id: 'a', title: 'A', status: 'done', startedAt: 0, endedAt: 65_000}, 0, false), '✓ A (1m05s)')
})
