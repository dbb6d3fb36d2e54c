import t from 'tap'

import {splitJsonOutput} from '../../src/runtime/json-output.js'

t.test('one clean object', async (t) => {
  t.same(splitJsonOutput('{"cniVersion":"1.0.0","ips":[]}\n'), {
    noise: '',
    objects: [{cniVersion: '1.0.0', ips: []}],
    unparsed: '',
  })
})

t.test('empty output', async (t) => {
  t.same(splitJsonOutput(''), {noise: '', objects: [], unparsed: ''})
  t.same(splitJsonOutput('  \n'), {noise: '', objects: [], unparsed: ''})
})

t.test('log lines around the object are noise, and the object is still recovered', async (t) => {
  const r = splitJsonOutput('INFO starting\n{"cniVersion":"1.0.0"}\ndone\n')
  t.same(r.objects, [{cniVersion: '1.0.0'}])
  t.match(r.noise, /^INFO starting\s+done$/)
  t.equal(r.unparsed, '')
})

t.test('two objects (libcni rejects the whole output)', async (t) => {
  const r = splitJsonOutput('{"a":1}{"b":2}')
  t.same(r.objects, [{a: 1}, {b: 2}])
  t.equal(r.noise, '')
})

t.test('braces and escaped quotes inside strings do not confuse the scanner', async (t) => {
  const text = '{"msg":"a } b { \\" c","n":{"x":[1,{"y":"}"}]}}'
  const r = splitJsonOutput(text)
  t.same(r.objects, [JSON.parse(text)])
  t.equal(r.noise, '')
})

t.test('an object nested deeper than cnidbg reads is unparsed, and says so', async (t) => {
  const deep = '{"cniVersion":"1.0.0","x":' + '['.repeat(20_000) + ']'.repeat(20_000) + '}'
  const r = splitJsonOutput(`${deep}\n`)
  t.same(r.objects, [])
  t.equal(r.unparsed, deep)
  t.match(r.unparsedTooDeep, /^JSON nested deeper than \d+ levels$/)
  t.notOk(splitJsonOutput('{"a":').unparsedTooDeep, 'malformed is not too deep')
})

t.test('a truncated object is reported as unparsed', async (t) => {
  const r = splitJsonOutput('{"cniVersion":"1.0.0","ips":[')
  t.same(r.objects, [])
  t.equal(r.unparsed, '{"cniVersion":"1.0.0","ips":[')
})

t.test('balanced but invalid JSON is unparsed, the rest still scanned', async (t) => {
  const r = splitJsonOutput("{'single':'quotes'} {\"ok\":true}")
  t.same(r.objects, [{ok: true}])
  t.equal(r.unparsed, "{'single':'quotes'}")
})
