import {Text} from 'ink'
import {render} from 'ink-testing-library'
import t from 'tap'

import {useSteps} from '../../../src/ui/hooks/use-steps.js'
import {StepTracker} from '../../../src/core/step-tracker.js'
import {settle} from '../../helpers/ink.js'

function Probe({tracker}: {tracker: StepTracker}) {
  return (
    <Text>
      {useSteps(tracker)
        .map((s) => `${s.id}:${s.status}`)
        .join(' ')}
    </Text>
  )
}

t.test('re-renders on change and unsubscribes on unmount', async (t) => {
  const tracker = new StepTracker(['a', 'b'])
  const app = render(<Probe tracker={tracker} />)
  t.teardown(() => app.unmount())
  t.equal(app.lastFrame(), 'a:pending b:pending')
  tracker.start('a')
  await settle()
  t.equal(app.lastFrame(), 'a:running b:pending')
  tracker.done('a')
  tracker.fail('b')
  await settle()
  t.equal(app.lastFrame(), 'a:done b:failed')
  t.equal(tracker.listenerCount('change'), 1)
  app.unmount()
  t.equal(tracker.listenerCount('change'), 0)
})
