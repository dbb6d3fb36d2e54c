import {Text} from 'ink'
import {render} from 'ink-testing-library'
import t from 'tap'

import {RunState} from '../../../src/conformance/run-state.js'
import {useRunState} from '../../../src/ui/hooks/use-run-state.js'
import {failDel, passAdd} from '../../helpers/conformance-fixtures.js'
import {settle} from '../../helpers/ink.js'

function Probe({state}: {state: RunState}) {
  const s = useRunState(state)
  return <Text>{`finished=${s.finished.length} failed=${s.counts.failed} running=${s.running.length}`}</Text>
}

t.test('re-renders on change and unsubscribes on unmount', async (t) => {
  const state = new RunState()
  const app = render(<Probe state={state} />)
  t.teardown(() => app.unmount())
  t.equal(app.lastFrame(), 'finished=0 failed=0 running=0')
  t.equal(state.listenerCount('change'), 1, 'subscribed once')
  state.checkStarted({id: 'a.b', version: null, title: 'A'})
  await settle()
  t.equal(app.lastFrame(), 'finished=0 failed=0 running=1')
  state.checkEnded(passAdd)
  state.checkEnded(failDel)
  await settle()
  t.equal(app.lastFrame(), 'finished=2 failed=1 running=1')
  app.unmount()
  t.equal(state.listenerCount('change'), 0, 'cleanup removed the listener')
})

t.test('switching to another state moves the subscription', async (t) => {
  const a = new RunState()
  const b = new RunState()
  b.checkEnded(passAdd)
  const app = render(<Probe state={a} />)
  t.teardown(() => app.unmount())
  app.rerender(<Probe state={b} />)
  await settle()
  t.equal(app.lastFrame(), 'finished=1 failed=0 running=0')
  t.equal(a.listenerCount('change'), 0)
  t.equal(b.listenerCount('change'), 1)
})
