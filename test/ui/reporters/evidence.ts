import t from 'tap'

import {evidenceSections, evidenceText, requirementLine} from '../../../src/ui/reporters/evidence.js'
import {check, failDel} from '../../helpers/conformance-fixtures.js'

t.test('requirementLine', async (t) => {
  t.equal(requirementLine(failDel), 'P72, P73 · MUST · decided by default')
  t.equal(requirementLine(check({id: 'a.b', requirements: [], severity: 'info'})), 'INFO')
})

t.test('sections come in reading order and leave out what is missing', async (t) => {
  t.same(
    evidenceSections(failDel).map((s) => s.label),
    [
      'plugin',
      'expected',
      'observed',
      'diff',
      'DEL → exit 1 in 5ms, stdout',
      'DEL → exit 1 in 5ms, stderr',
      'DEL → exit none (killed) in 30.0s',
      'reproduce',
      'by hand',
      'spec',
    ],
  )
  t.same(evidenceSections(check({id: 'a.b', spec: ''})), [{label: 'plugin', text: 'bridge'}], 'the plugin, always')
  t.same(
    evidenceSections(check({id: 'a.b', spec: '', plugin: 'ptp', context: true})),
    [{label: 'plugin', text: 'ptp (before the plugin under test)'}],
    'a context finding says so',
  )
  const long = check({
    id: 'a.b',
    spec: '',
    evidence: {
      invocations: [
        {
          verb: 'ADD',
          exitCode: 0,
          stdout: Array.from({length: 50}, (_, i) => String(i)).join('\n'),
          stderr: '',
          durationMs: 1,
        },
      ],
    },
  })
  t.equal(evidenceSections(long, {tailLines: 2})[1].text.split('\n').slice(1).join(','), '48,49')
})

t.test('evidenceText is the message, the requirement line and label: value lines', async (t) => {
  t.equal(
    evidenceText(check({id: 'a.b', message: 'm', spec: 'SPEC.md#x', evidence: {expected: 'e'}})),
    'm\nP1 · MUST\nplugin: bridge\nexpected: e\nspec: https://github.com/containernetworking/cni/blob/main/SPEC.md#x',
  )
})
