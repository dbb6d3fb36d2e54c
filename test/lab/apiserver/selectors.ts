import t from 'tap'

import {matchFields, matchLabels, parseFieldSelector, parseLabelSelector} from '../../../src/lab/apiserver/selectors.js'
import {ApiError} from '../../../src/lab/apiserver/status.js'

const labels = {app: 'web', tier: 'front', 'example.com/zone': 'a', n: '5', empty: ''}

t.test('label selectors: every operator', async (t) => {
  // selector, matches `labels`?
  const cases: [string, boolean][] = [
    ['', true],
    ['app=web', true],
    ['app==web', true],
    ['app=db', false],
    ['app!=db', true],
    ['missing!=x', true], // != also matches objects without the label
    ['app!=web', false],
    ['app in (db, web)', true],
    ['app in (db)', false],
    ['app notin (db,cache)', true],
    ['missing notin (x)', true],
    ['app notin (web)', false],
    ['app', true],
    ['missing', false],
    ['!missing', true],
    ['!app', false],
    ['example.com/zone=a', true],
    ['app=web,tier=front', true],
    ['app=web,tier=back', false],
    ['  app = web ,  tier in ( front ) ', true],
    ['n>4', true],
    ['n<5', false],
    ['empty=', true],
    ['app=web,!missing,tier notin (back)', true],
  ]
  for (const [sel, want] of cases) {
    t.equal(matchLabels(parseLabelSelector(sel), labels), want, `${JSON.stringify(sel)} → ${want}`)
  }
  t.equal(matchLabels(parseLabelSelector('!a'), undefined), true, 'no labels at all')
  t.equal(matchLabels(parseLabelSelector('a'), undefined), false)
})

t.test('label selectors: malformed ones are 400s', async (t) => {
  for (const sel of [
    'app in web',
    'app in (a',
    'app=web,',
    '=web',
    'app=we b',
    'bad key=x',
    'app=' + 'x'.repeat(64),
    'n>x',
    'a b',
  ]) {
    t.throws(() => parseLabelSelector(sel), ApiError, JSON.stringify(sel))
    try {
      parseLabelSelector(sel)
    } catch (e) {
      t.equal((e as ApiError).code, 400)
    }
  }
})

t.test('field selectors: =, ==, !=, escapes, allowed fields', async (t) => {
  const fields: Record<string, string> = {'spec.nodeName': 'n1', 'status.phase': 'Running', 'metadata.name': 'a,b=c'}
  const get = (f: string) => fields[f] ?? ''
  const cases: [string, boolean][] = [
    ['', true],
    ['spec.nodeName=n1', true],
    ['spec.nodeName==n1', true],
    ['spec.nodeName!=n1', false],
    ['spec.nodeName=n1,status.phase!=Failed,status.phase!=Succeeded', true],
    ['status.phase=Pending', false],
    ['metadata.name=a\\,b\\=c', true],
    ['spec.nodeName=', false],
    ['metadata.namespace=', true],
  ]
  for (const [sel, want] of cases)
    t.equal(matchFields(parseFieldSelector(sel), get), want, `${JSON.stringify(sel)} → ${want}`)
  t.throws(() => parseFieldSelector('spec.other=1', ['spec.nodeName']), {
    code: 400,
    message: /field label not supported: spec.other/,
  })
  t.throws(() => parseFieldSelector('nooperator'), {code: 400})
  t.throws(() => parseFieldSelector('a=b=c'), {code: 400}, 'an unescaped = in a value')
  t.same(parseFieldSelector('a!=x'), [{field: 'a', op: '!=', value: 'x'}])
})
