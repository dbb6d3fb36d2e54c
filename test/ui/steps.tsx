import {render} from 'ink-testing-library'
import t from 'tap'

import {StepTracker} from '../../src/core/step-tracker.js'
import {Steps, stepDuration} from '../../src/ui/steps.js'
import {fakeClock, settle, stripAnsi} from '../helpers/ink.js'

t.test('renders every step with its status, duration and detail', async (t) => {
  const clock = fakeClock()
  const tracker = new StepTracker(['Create node namespaces', 'Start the daemon', 'Wire the overlay'], {now: clock.now})
  const app = render(<Steps tracker={tracker} title="Starting the lab" />)
  t.teardown(() => app.unmount())
  t.equal(
    stripAnsi(app.lastFrame()),
    ['Starting the lab', '○ Create node namespaces', '○ Start the daemon', '○ Wire the overlay'].join('\n'),
  )
  tracker.start('Create node namespaces')
  clock.advance(1200)
  tracker.done('Create node namespaces', '3 nodes')
  tracker.start('Start the daemon', 'waiting for socket')
  clock.advance(400)
  tracker.update('Start the daemon', 'waiting for socket')
  await settle()
  t.equal(
    stripAnsi(app.lastFrame()),
    [
      'Starting the lab',
      '✓ Create node namespaces (1.2s): 3 nodes',
      '▸ Start the daemon (400ms): waiting for socket',
      '○ Wire the overlay',
    ].join('\n'),
  )
  tracker.fail('Start the daemon', 'exit 1')
  await settle()
  t.match(stripAnsi(app.lastFrame()), /^✗ Start the daemon \(400ms\): exit 1$/m)
})

t.test('no title, no empty line', async (t) => {
  const app = render(<Steps tracker={new StepTracker(['only'])} />)
  t.teardown(() => app.unmount())
  t.equal(stripAnsi(app.lastFrame()), '○ only')
})

t.test('stepDuration', async (t) => {
  t.equal(stepDuration({id: 'a', title: 'a', status: 'pending'}, 10), undefined)
  t.equal(stepDuration({id: 'a', title: 'a', status: 'running', startedAt: 0}, 2500), '2.5s')
  t.equal(stepDuration({id: 'a', title: 'a', status: 'done', startedAt: 0, endedAt: 20}, 2500), '20ms')
})
