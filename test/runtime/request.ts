import t from 'tap'

import {buildAttachmentRequest, buildGcRequest, buildPlainRequest} from '../../src/runtime/request.js'
import type {PluginConf, RuntimeConf} from '../../src/runtime/types.js'

const rt: RuntimeConf = {
  args: [['IgnoreUnknown', '1']],
  capabilityArgs: {
    bandwidth: {egressRate: 1000},
    ips: ['10.1.0.9/24'],
    portMappings: [{containerPort: 80, hostPort: 8080, protocol: 'tcp'}],
  },
  containerId: 'c1',
  ifname: 'eth0',
  netns: '/run/netns/pod1',
}

const plugin: PluginConf = {
  type: 'portmap',
  cniVersion: '0.3.1', // the plugin's own copy is overridden by the list's (R13)
  name: 'wrong-name',
  capabilities: {portMappings: true, bandwidth: false, mac: true},
  'cni.dev/internal': 'runtime only',
  snat: true,
  nested: {keep: ['as', 'is'], 'cni.dev/inner': 'not a top-level key, kept'},
}

const prev1 = {
  cniVersion: '1.0.0',
  interfaces: [{mac: '0a:58:0a:01:00:05', name: 'eth0', sandbox: '/run/netns/pod1'}],
  ips: [{address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 0}],
}

t.test('R13: cniVersion and name come from the list', async (t) => {
  const req = buildAttachmentRequest(plugin, {cniVersion: '1.0.0', name: 'mynet', rt})
  t.equal(req.cniVersion, '1.0.0')
  t.equal(req.name, 'mynet')
})

t.test('R14: runtimeConfig holds only capabilities the plugin declares true and the runtime has', async (t) => {
  const req = buildAttachmentRequest(plugin, {cniVersion: '1.0.0', name: 'mynet', rt})
  t.same(
    req.runtimeConfig,
    {portMappings: rt.capabilityArgs.portMappings},
    'bandwidth is declared false, mac has no value, ips not declared',
  )
})

t.test('R14: no runtimeConfig key at all when the intersection is empty', async (t) => {
  const none = buildAttachmentRequest({type: 'bridge', capabilities: {mac: true}}, {cniVersion: '1.0.0', name: 'n', rt})
  t.notOk('runtimeConfig' in none)
  const noCaps = buildAttachmentRequest({type: 'bridge'}, {cniVersion: '1.0.0', name: 'n', rt})
  t.notOk('runtimeConfig' in noCaps)
  const noArgs = buildAttachmentRequest(plugin, {cniVersion: '1.0.0', name: 'n', rt: {...rt, capabilityArgs: {}}})
  t.notOk('runtimeConfig' in noArgs)
})

t.test('R16: capabilities never reach the plugin', async (t) => {
  const req = buildAttachmentRequest(plugin, {cniVersion: '1.0.0', name: 'mynet', rt})
  t.notOk('capabilities' in req)
  t.notOk('capabilities' in buildPlainRequest(plugin, {cniVersion: '1.1.0', name: 'mynet'}))
  t.notOk('capabilities' in buildGcRequest(plugin, {cniVersion: '1.1.0', name: 'mynet', valid: []}))
})

t.test('R18: top-level cni.dev/ keys are dropped, everything else passes unchanged', async (t) => {
  const req = buildAttachmentRequest(plugin, {cniVersion: '1.0.0', name: 'mynet', rt})
  t.notOk('cni.dev/internal' in req)
  t.equal(req.type, 'portmap')
  t.equal(req.snat, true)
  t.same(req.nested, plugin.nested)
})

t.test('R15: prevResult absent for the first plugin, present after', async (t) => {
  t.notOk('prevResult' in buildAttachmentRequest(plugin, {cniVersion: '1.0.0', name: 'n', rt}))
  const req = buildAttachmentRequest(plugin, {cniVersion: '1.0.0', name: 'n', prevResult: prev1, rt})
  t.same(req.prevResult, prev1)
})

t.test('R19: prevResult is converted to the request version', async (t) => {
  const to040 = buildAttachmentRequest(plugin, {cniVersion: '0.4.0', name: 'n', prevResult: prev1, rt})
  t.same(
    to040.prevResult,
    {...prev1, cniVersion: '0.4.0', ips: [{...prev1.ips[0], version: '4'}]},
    '0.4.0 gains ips[].version',
  )
  const back = buildAttachmentRequest(plugin, {cniVersion: '1.0.0', name: 'n', prevResult: to040.prevResult, rt})
  t.same(back.prevResult, prev1, '1.0.0 loses it again')
  const legacy = buildAttachmentRequest(plugin, {cniVersion: '0.2.0', name: 'n', prevResult: prev1, rt})
  t.same(legacy.prevResult, {cniVersion: '0.2.0', ip4: {gateway: '10.1.0.1', ip: '10.1.0.5/24'}})
})

t.test('the plugin object is not mutated', async (t) => {
  const copy = JSON.parse(JSON.stringify(plugin))
  buildAttachmentRequest(plugin, {cniVersion: '1.0.0', name: 'n', prevResult: prev1, rt})
  buildGcRequest(plugin, {cniVersion: '1.1.0', name: 'n', valid: [{containerID: 'a', ifname: 'eth0'}]})
  t.same(plugin, copy)
})

t.test('R17: GC gets the valid attachments under both key spellings, no runtimeConfig or prevResult', async (t) => {
  const valid = [
    {containerID: 'c1', ifname: 'eth0'},
    {containerID: 'c2', ifname: 'net1'},
  ]
  const req = buildGcRequest(plugin, {cniVersion: '1.1.0', name: 'mynet', valid})
  t.same(req['cni.dev/valid-attachments'], valid)
  t.same(req['cni.dev/attachments'], valid)
  t.notOk('runtimeConfig' in req)
  t.notOk('prevResult' in req)
  t.notOk('cni.dev/internal' in req)
  t.equal(req.name, 'mynet')
  t.equal(req.cniVersion, '1.1.0')
  t.same(
    buildGcRequest(plugin, {cniVersion: '1.1.0', name: 'mynet', valid: []})['cni.dev/valid-attachments'],
    [],
    'none valid is an empty list',
  )
})

t.test('STATUS: the plugin object plus name and version', async (t) => {
  const req = buildPlainRequest(
    {type: 'bridge', bridge: 'cni0', capabilities: {mac: true}},
    {cniVersion: '1.1.0', name: 'mynet'},
  )
  t.same(req, {bridge: 'cni0', cniVersion: '1.1.0', name: 'mynet', type: 'bridge'})
})
