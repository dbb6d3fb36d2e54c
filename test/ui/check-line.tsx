import {render} from 'ink-testing-library'
import t from 'tap'

import {formatCheckLine} from '../../src/ui/reporters/pretty.js'
import {CheckLine} from '../../src/ui/check-line.js'
import {failDel, nastyFail, passAdd, skipCheck, warnVersion} from '../helpers/conformance-fixtures.js'
import {stripAnsi} from '../helpers/ink.js'

t.test('says the same as the plain progress line', async (t) => {
  for (const r of [passAdd, failDel, warnVersion, skipCheck, nastyFail]) {
    for (const strict of [false, true]) {
      const app = render(<CheckLine result={r} strict={strict} />)
      // ink wraps at the terminal width (100 columns here); compare the words, not the wrapping.
      const words = (s: string) => s.replace(/\s+/g, ' ').trim()
      t.equal(
        words(stripAnsi(app.lastFrame())),
        words(formatCheckLine(r, {strict, color: false})),
        `${r.id} strict=${strict}`,
      )
      app.unmount()
    }
  }
})
