import {Text} from 'ink'
import {render} from 'ink-testing-library'
import t from 'tap'

import {useTicker} from '../../../src/ui/hooks/use-ticker.js'
import {waitFor} from '../../helpers/ink.js'

function Probe({interval}: {interval: number | null}) {
  return <Text>{`ticks=${useTicker(interval)}`}</Text>
}

t.test('ticks while an interval is set, stops when it is null', async (t) => {
  const app = render(<Probe interval={1} />)
  t.teardown(() => app.unmount())
  t.equal(app.lastFrame(), 'ticks=0')
  // At least two ticks: on a loaded machine several may land between two looks at the frame.
  await waitFor(() => Number(app.lastFrame()?.split('=')[1]) >= 2)
  app.rerender(<Probe interval={null} />)
  const frozen = app.lastFrame()
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(app.lastFrame(), frozen, 'no ticks after the interval is removed')
})
