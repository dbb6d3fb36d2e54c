import {cpSync, existsSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

import t from 'tap'

import {startApiServer} from '../../src/lab/apiserver/server.js'
import {run} from '../../src/process/exec.js'
import {privateTmpdir} from '../helpers/machine.js'

// The build replaces dist/kube/client.js with a door to an esbuild bundle of the names src/kube/client.ts
// re-exports (client.cjs, compiled with V8's code cache client.cjs.cache: scripts/bundle-kube.mjs). The
// CLI, the lab and the daemon run from dist, so the bundle is what they use: check that it has every
// name, that a client made from it lists, creates, patches and watches pods, and that the cache is one
// V8 takes.
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const bundle = join(root, 'dist', 'kube', 'client.js')
const haveDist = existsSync(bundle)

t.test('the built bundle exports what src/kube/client.ts does and talks to an API server', async (t) => {
  if (!t.ok(haveDist, 'dist/kube/client.js exists (npm run build)')) return
  const src = await import('../../src/kube/client.js')
  const built = (await import(pathToFileURL(bundle).href)) as typeof src
  t.same(Object.keys(built).sort(), Object.keys(src).sort(), 'the same runtime exports')
  for (const name of Object.keys(src)) t.type(built[name as keyof typeof built], typeof src[name as keyof typeof src])

  const server = await startApiServer({})
  t.teardown(() => server.close())
  const kc = new built.KubeConfig()
  kc.loadFromString(server.kubeconfigYaml())
  const core = kc.makeApiClient(built.CoreV1Api)
  await core.createNamespacedPod({
    namespace: 'default',
    body: {metadata: {name: 'bundled'}, spec: {containers: [{name: 'c', image: 'x'}]}},
  })
  const seen: string[] = []
  const informer = built.makeInformer(kc, '/api/v1/pods', () => core.listPodForAllNamespaces())
  informer.on('add', (p) => seen.push(p.metadata?.name ?? ''))
  await informer.start()
  t.teardown(() => informer.stop())
  await core.patchNamespacedPod(
    {name: 'bundled', namespace: 'default', body: {metadata: {labels: {via: 'bundle'}}}},
    built.setHeaderOptions('Content-Type', built.PatchStrategy.MergePatch),
  )
  const pod = await core.readNamespacedPod({name: 'bundled', namespace: 'default'})
  t.equal(pod.metadata?.labels?.via, 'bundle', 'merge patch through the bundled client')
  t.same(seen, ['bundled'], 'the informer listed the pod')
})

t.test('V8 takes the code cache the build made, as the door loads the client', {skip: !haveDist}, async (t) => {
  t.match(readFileSync(bundle, 'utf8'), /loadClient\(/, 'the door loads the client through client-loader.cjs')
  const loader = join(root, 'dist', 'kube', 'client-loader.cjs')
  const file = join(root, 'dist', 'kube', 'client.cjs')
  // A fresh process, as a command starts: V8 takes a cache only from the same version and flags.
  const probe = [
    `const {script} = require(${JSON.stringify(loader)}).loadClient(${JSON.stringify(file)})`,
    'console.log(JSON.stringify({rejected: script.cachedDataRejected}))',
  ].join('\n')
  const r = await run(process.execPath, ['-e', probe], {timeoutMs: 60_000, env: {NODE_OPTIONS: ''}})
  t.equal(r.exitCode, 0, r.stderr)
  t.same(JSON.parse(r.stdout), {rejected: false}, 'the cache was taken')
})

t.test('without the code cache, or with a stale one, the door still loads the client', {skip: !haveDist}, async (t) => {
  const copy = join(privateTmpdir(t), 'kube')
  cpSync(join(root, 'dist', 'kube'), copy, {recursive: true})
  const cache = join(copy, 'client.cjs.cache')
  const use = [
    `const k8s = await import(${JSON.stringify(pathToFileURL(join(copy, 'client.js')).href)})`,
    'const kc = new k8s.KubeConfig()',
    "kc.loadFromOptions({clusters: [{name: 'c', server: 'https://127.0.0.1:1'}], users: [{name: 'u', token: 't'}], contexts: [{name: 'x', cluster: 'c', user: 'u'}], currentContext: 'x'})",
    'console.log(kc.makeApiClient(k8s.CoreV1Api) instanceof k8s.CoreV1Api, Object.keys(k8s).length)',
  ].join('\n')
  const say = async () => {
    const r = await run(process.execPath, ['--input-type=module', '-e', use], {timeoutMs: 60_000})
    return {exitCode: r.exitCode, stdout: r.stdout}
  }
  const want = await say()
  t.match(want, {exitCode: 0, stdout: /^true \d+\n$/}, 'with the cache')
  rmSync(cache)
  t.same(await say(), want, 'the same without a cache')
  writeFileSync(cache, Buffer.alloc(4096, 7))
  t.same(await say(), want, 'the same with a stale cache')
})
