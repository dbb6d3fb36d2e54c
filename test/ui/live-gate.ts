import t from 'tap'

import {isCi, liveMode} from '../../src/ui/live-gate.js'

t.test('isCi mirrors is-in-ci', async (t) => {
  t.equal(isCi({}), false)
  t.equal(isCi({CI: 'true'}), true)
  t.equal(isCi({CI: ''}), true, 'set but empty still counts, as in is-in-ci')
  t.equal(isCi({CI: '0'}), false)
  t.equal(isCi({CI: 'false'}), false)
  t.equal(isCi({CONTINUOUS_INTEGRATION: '1'}), true)
  t.equal(isCi({GITHUB_ACTIONS: 'true'}), false, 'only CI and CONTINUOUS_INTEGRATION, like ink')
})

t.test('ink only for a terminal, outside CI, without --json', async (t) => {
  const tty = {isTTY: true}
  const pipe = {isTTY: false}
  t.equal(liveMode({json: true, isTTY: true, ci: false}, tty), 'none')
  t.equal(liveMode({isTTY: true, ci: false}, pipe), 'ink', 'explicit isTTY wins over the stream')
  t.equal(liveMode({ci: false}, tty), 'ink', 'isTTY defaults to the stream')
  t.equal(liveMode({ci: false}, pipe), 'plain')
  t.equal(liveMode({ci: true}, tty), 'plain')
  t.equal(liveMode({isTTY: false, ci: false}, tty), 'plain')
})
