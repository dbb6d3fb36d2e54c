import t from 'tap'

import {formatCniArgs, parseCapArgs, parseCniArgs} from '../../src/runtime/args.js'
import {cnidbgError} from '../helpers/errors.js'

t.test('CNI_ARGS pairs keep their order and round-trip', async (t) => {
  const text = 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0'
  const pairs = parseCniArgs(text)
  t.same(pairs, [
    ['IgnoreUnknown', '1'],
    ['K8S_POD_NAMESPACE', 'default'],
    ['K8S_POD_NAME', 'web-0'],
  ])
  t.equal(formatCniArgs(pairs), text)
})

t.test('a value may contain "="; empty segments are ignored', async (t) => {
  t.same(parseCniArgs('A=b=c;;B=2;'), [
    ['A', 'b=c'],
    ['B', '2'],
  ])
  t.same(parseCniArgs(''), [])
  t.same(parseCniArgs(undefined), [])
})

t.test('like cnitool, an empty key or value is a usage error', async (t) => {
  for (const bad of ['A', 'A=', '=1', 'A=1;B']) {
    t.throws(() => parseCniArgs(bad), cnidbgError('INVALID_ARGS', 2), JSON.stringify(bad))
  }
})

t.test('CAP_ARGS is a JSON object', async (t) => {
  t.same(parseCapArgs('{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}'), {
    portMappings: [{containerPort: 80, hostPort: 8080, protocol: 'tcp'}],
  })
  t.same(parseCapArgs(undefined), {})
  t.same(parseCapArgs(''), {})
  t.throws(() => parseCapArgs('{nope'), cnidbgError('INVALID_CAP_ARGS', 2))
  for (const bad of ['[1,2]', '"x"', 'null', '3'])
    t.throws(() => parseCapArgs(bad), cnidbgError('INVALID_CAP_ARGS'), bad)
})
