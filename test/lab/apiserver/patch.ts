import t from 'tap'

import {
  applyPatch,
  deepEqual,
  jsonPatch,
  mergePatch,
  patchTypeOf,
  strategicMergePatch,
} from '../../../src/lab/apiserver/patch.js'

t.test('merge patch follows RFC 7386 (its appendix A examples)', async (t) => {
  // target, patch, result
  const cases: [unknown, unknown, unknown][] = [
    [{a: 'b'}, {a: 'c'}, {a: 'c'}],
    [{a: 'b'}, {b: 'c'}, {a: 'b', b: 'c'}],
    [{a: 'b'}, {a: null}, {}],
    [{a: 'b', b: 'c'}, {a: null}, {b: 'c'}],
    [{a: ['b']}, {a: 'c'}, {a: 'c'}],
    [{a: 'c'}, {a: ['b']}, {a: ['b']}],
    [{a: {b: 'c'}}, {a: {b: 'd', c: null}}, {a: {b: 'd'}}],
    [{a: [{b: 'c'}]}, {a: [1]}, {a: [1]}],
    [
      ['a', 'b'],
      ['c', 'd'],
      ['c', 'd'],
    ],
    [{a: 'b'}, ['c'], ['c']],
    [{a: 'foo'}, null, null],
    [{a: 'foo'}, 'bar', 'bar'],
    [{e: null}, {a: 1}, {e: null, a: 1}],
    [[1, 2], {a: 'b', c: null}, {a: 'b'}],
    [{}, {a: {bb: {ccc: null}}}, {a: {bb: {}}}],
  ]
  for (const [target, patch, want] of cases) {
    t.same(mergePatch(target, patch), want, `${JSON.stringify(target)} + ${JSON.stringify(patch)}`)
  }
  const target = {a: {b: 1}}
  mergePatch(target, {a: {b: 2}})
  t.same(target, {a: {b: 1}}, 'inputs are not mutated')
})

t.test('strategic merge patch: keyed lists, directives, atomic lists', async (t) => {
  const pod = {
    metadata: {finalizers: ['a'], labels: {x: '1'}},
    spec: {
      containers: [
        {name: 'c1', image: 'one', env: [{name: 'A', value: '1'}]},
        {name: 'c2', image: 'two'},
      ],
      tolerations: [{key: 't1'}],
    },
    status: {
      conditions: [
        {type: 'Ready', status: 'False'},
        {type: 'Initialized', status: 'True'},
      ],
      podIPs: [{ip: '10.0.0.1'}],
    },
  }
  const out = strategicMergePatch(pod, {
    metadata: {finalizers: ['b', 'a'], labels: {x: null, y: '2'}},
    spec: {
      containers: [
        {name: 'c1', image: 'uno', env: [{name: 'B', value: '2'}]},
        {name: 'c2', $patch: 'delete'},
      ],
      tolerations: [{key: 't2'}],
    },
    status: {
      '$setElementOrder/conditions': [{type: 'Initialized'}, {type: 'Ready'}],
      conditions: [{type: 'Ready', status: 'True'}],
      podIPs: [{ip: 'fd00::1'}],
    },
  })
  t.same(out, {
    metadata: {finalizers: ['a', 'b'], labels: {y: '2'}},
    spec: {
      containers: [
        {
          name: 'c1',
          image: 'uno',
          env: [
            {name: 'A', value: '1'},
            {name: 'B', value: '2'},
          ],
        },
      ],
      tolerations: [{key: 't2'}],
    },
    status: {
      conditions: [
        {type: 'Initialized', status: 'True'},
        {type: 'Ready', status: 'True'},
      ],
      podIPs: [{ip: '10.0.0.1'}, {ip: 'fd00::1'}],
    },
  })
  t.same(
    strategicMergePatch(pod.status, {conditions: [{$patch: 'replace'}, {type: 'Only', status: 'True'}]}),
    {conditions: [{type: 'Only', status: 'True'}], podIPs: [{ip: '10.0.0.1'}]},
    '$patch: replace on a list',
  )
  t.same(
    strategicMergePatch({a: {b: 1, c: 2}}, {a: {$patch: 'replace', d: 3}}),
    {a: {d: 3}},
    '$patch: replace on a map',
  )
  t.same(strategicMergePatch({a: {b: 1}, k: 1}, {a: {$patch: 'delete'}}), {k: 1}, '$patch: delete on a map')
  t.same(strategicMergePatch({finalizers: ['a', 'b', 'c']}, {'$deleteFromPrimitiveList/finalizers': ['b']}), {
    finalizers: ['a', 'c'],
  })
  t.same(strategicMergePatch({a: 1, b: 2, c: 3}, {$retainKeys: ['a', 'c'], c: 4}), {a: 1, c: 4}, '$retainKeys')
  t.throws(() => strategicMergePatch(pod, {spec: {containers: [{image: 'no-name'}]}}), {code: 400})
  t.throws(() => strategicMergePatch(pod, {$patch: 'bogus'}), {code: 400})
})

t.test('json patch follows RFC 6902', async (t) => {
  const doc = {a: {b: [1, 2]}, 'x/y': 1, 't~': 2}
  t.same(jsonPatch(doc, [{op: 'add', path: '/a/b/1', value: 9}]), {a: {b: [1, 9, 2]}, 'x/y': 1, 't~': 2})
  t.same((jsonPatch(doc, [{op: 'add', path: '/a/b/-', value: 3}]) as typeof doc).a, {b: [1, 2, 3]})
  t.same(
    jsonPatch(doc, [
      {op: 'remove', path: '/x~1y'},
      {op: 'replace', path: '/t~0', value: 0},
    ]),
    {a: {b: [1, 2]}, 't~': 0},
  )
  t.same(jsonPatch(doc, [{op: 'move', from: '/a/b', path: '/c'}]), {a: {}, c: [1, 2], 'x/y': 1, 't~': 2})
  t.same((jsonPatch(doc, [{op: 'copy', from: '/a/b/0', path: '/a/first'}]) as typeof doc).a, {b: [1, 2], first: 1})
  t.same(jsonPatch(doc, [{op: 'test', path: '/a/b', value: [1, 2]}]), doc)
  t.same(jsonPatch(doc, [{op: 'replace', path: '', value: {z: 1}}]), {z: 1})
  t.same(doc, {a: {b: [1, 2]}, 'x/y': 1, 't~': 2}, 'inputs are not mutated')
  t.throws(() => jsonPatch(doc, [{op: 'test', path: '/a/b', value: [2]}]), {code: 422})
  t.throws(() => jsonPatch(doc, [{op: 'remove', path: '/nope'}]), {code: 422})
  t.throws(() => jsonPatch(doc, [{op: 'replace', path: '/a/nope', value: 1}]), {code: 422})
  t.throws(() => jsonPatch(doc, [{op: 'add', path: '/a/b/7', value: 1}]), {code: 422})
  t.throws(() => jsonPatch(doc, [{op: 'add', path: '/q'}]), {code: 400}, 'add without value')
  t.throws(() => jsonPatch(doc, [{op: 'frobnicate', path: '/q'}]), {code: 400})
  t.throws(() => jsonPatch(doc, {op: 'add'}), {code: 400}, 'not a list')
})

t.test('content types and dispatch', async (t) => {
  t.equal(patchTypeOf('application/merge-patch+json'), 'merge')
  t.equal(patchTypeOf('application/strategic-merge-patch+json; charset=utf-8'), 'strategic')
  t.equal(patchTypeOf('application/json-patch+json'), 'json')
  t.equal(patchTypeOf('application/apply-patch+yaml'), undefined)
  t.equal(patchTypeOf(undefined), undefined)
  t.throws(() => applyPatch('merge', {}, [1]), {code: 400})
  t.ok(deepEqual({a: [1, {b: undefined}]}, {a: [1, {}]}), 'undefined members are absent')
  t.notOk(deepEqual({a: [1]}, {a: [1, 2]}))
})
