import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import t from 'tap'

import {startApiServer} from '../../src/lab/apiserver/index.js'
import {parsePodRef, trace} from '../../src/services/trace.js'

t.test('parsePodRef: NAME, NAMESPACE/NAME, and bad forms', async (t) => {
  t.same(parsePodRef('web-0', 'default'), {name: 'web-0', namespace: 'default'})
  t.same(parsePodRef('kube-system/dns', 'default'), {name: 'dns', namespace: 'kube-system'})
  for (const bad of ['/x', 'a/', 'a/b/c']) {
    let code: string | undefined
    try {
      parsePodRef(bad, 'default')
    } catch (error) {
      code = (error as {cnidbgCode?: string}).cnidbgCode
    }
    t.equal(code, 'TRACE_BAD_POD', bad)
  }
})

const codeOf = (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => undefined,
    (error: {cnidbgCode?: string}) => error.cnidbgCode,
  )

t.test('clear errors before any probe: unknown pod, pod without an IP, unreachable API', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cnidbg-trace-svc-'))
  const server = await startApiServer({port: 0})
  t.teardown(async () => {
    await server.close()
    rmSync(dir, {force: true, recursive: true})
  })
  const kubeconfig = join(dir, 'kubeconfig')
  server.writeKubeconfig(kubeconfig)
  const base = {lab: 'no-such-lab', namespace: 'default', staticOnly: true}
  t.equal(await codeOf(trace({...base, kubeconfig, podA: 'ghost', podB: 'ghost2'})), 'TRACE_POD_NOT_FOUND')
  server.store.create('pods', 'default', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {name: 'pending', namespace: 'default'},
    spec: {containers: [], nodeName: 'node1'},
  })
  server.store.create('pods', 'default', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {name: 'pending2', namespace: 'default'},
    spec: {containers: [], nodeName: 'node1'},
  })
  t.equal(await codeOf(trace({...base, kubeconfig, podA: 'pending', podB: 'pending2'})), 'TRACE_POD_NOT_READY')
  // One pod twice, by name and by namespace/name: nothing to trace, said before anything is read.
  t.equal(await codeOf(trace({...base, kubeconfig, podA: 'pending', podB: 'default/pending'})), 'TRACE_SAME_POD')
  const dead = join(dir, 'dead')
  writeFileSync(dead, server.kubeconfigYaml().replace(/127\.0\.0\.1:\d+/, '127.0.0.1:1'))
  t.equal(await codeOf(trace({...base, kubeconfig: dead, podA: 'a', podB: 'b'})), 'TRACE_API_UNREACHABLE')
})

t.test('--lab naming no lab: LAB_NOT_FOUND, never a trace in the cluster ~/.kube/config names', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'cnidbg-trace-home-'))
  const server = await startApiServer({port: 0})
  const was = process.env.HOME
  process.env.HOME = home
  t.teardown(async () => {
    if (was === undefined) delete process.env.HOME
    else process.env.HOME = was
    await server.close()
    rmSync(home, {force: true, recursive: true})
  })
  // A reachable cluster in ~/.kube/config, which the old fallback asked instead.
  mkdirSync(join(home, '.kube'))
  server.writeKubeconfig(join(home, '.kube', 'config'))
  const base = {namespace: 'default', staticOnly: true, podA: 'a', podB: 'b'}
  const lab = `cnidbg-no-lab-${process.pid}`
  const err = await trace({...base, lab}).then(
    () => undefined,
    (e: {cnidbgCode?: string; message?: string; suggestions?: string[]}) => e,
  )
  t.match(err, {cnidbgCode: 'LAB_NOT_FOUND', message: `No lab named "${lab}".`})
  t.match(err?.suggestions?.[0], `cnidbg lab up --name ${lab}`)
  t.notMatch(err?.suggestions?.join('\n') ?? '', /--name\)/, 'the flag to pick a lab here is --lab')
})
