import {existsSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

import t from 'tap'

import {startApiServer} from '../../src/lab/apiserver/server.js'

// The build replaces dist/kube/client.js with an esbuild bundle of the names src/kube/client.ts
// re-exports. The CLI, the lab and the daemon run from dist, so the bundle is what they use: check
// that it has every name, and that a client made from it lists, creates, patches and watches pods.
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const bundle = join(root, 'dist', 'kube', 'client.js')

t.test('the built bundle exports what src/kube/client.ts does and talks to an API server', async (t) => {
  if (!t.ok(existsSync(bundle), 'dist/kube/client.js exists (npm run build)')) return
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
