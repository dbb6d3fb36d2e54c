import t from 'tap'

import {StepTracker, type Step} from '../../src/core/step-tracker.js'
import {fakeClock} from '../helpers/ink.js'

t.test('status, detail and times follow the calls', async (t) => {
  const clock = fakeClock()
  const tracker = new StepTracker(['Create namespaces', {id: 'daemon', title: 'Start the daemon'}], {now: clock.now})
  const changes: Array<[readonly Step[], Step]> = []
  tracker.on('change', (steps, changed) => changes.push([steps, changed]))
  t.same(
    tracker.steps.map((s) => [s.id, s.title, s.status]),
    [
      ['Create namespaces', 'Create namespaces', 'pending'],
      ['daemon', 'Start the daemon', 'pending'],
    ],
  )
  tracker.start('Create namespaces', 'node 1')
  clock.advance(300)
  tracker.update('Create namespaces', 'node 2')
  tracker.done('Create namespaces', '3 nodes')
  t.match(tracker.steps[0], {status: 'done', detail: '3 nodes', startedAt: clock.now() - 300, endedAt: clock.now()})
  tracker.start('daemon')
  t.notOk('detail' in tracker.steps[1], 'no detail key when none was given')
  tracker.fail('daemon', 'exit 1')
  t.match(tracker.steps[1], {status: 'failed', detail: 'exit 1'})
  t.equal(changes.length, 5)
  t.equal(changes[1][1].detail, 'node 2')
  t.not(changes[0][0], changes[1][0], 'a new array per change')
  t.equal(changes[0][0][0].status, 'running', 'old arrays are not mutated')
})

t.test('run() wraps an async step', async (t) => {
  const tracker = new StepTracker(['a', 'b', 'c'])
  t.equal(await tracker.run('a', async () => '2 nodes'), '2 nodes')
  t.equal(await tracker.run('b', async () => 42), 42)
  await t.rejects(
    tracker.run('c', async () => {
      throw new Error('boom')
    }),
    {message: 'boom'},
  )
  t.same(
    tracker.steps.map((s) => [s.status, s.detail]),
    [
      ['done', '2 nodes'],
      ['done', undefined],
      ['failed', 'boom'],
    ],
  )
})

t.test('unknown and duplicate ids are programming errors', async (t) => {
  t.throws(() => new StepTracker(['a', 'a']), /duplicate step id "a"/)
  t.throws(() => new StepTracker(['a']).start('b'), /unknown step "b"/)
})
