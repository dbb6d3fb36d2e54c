import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import * as k8s from '../../../src/kube/client.js'
import t from 'tap'

import {parseFlags, runMain} from '../../../src/lab/apiserver/main.js'
import {run} from '../../../src/process/exec.js'

const repo = fileURLToPath(new URL('../../../', import.meta.url))

t.test('flags', async (t) => {
  t.match(parseFlags([]), {host: '127.0.0.1', port: 0, log: false, kubeconfig: undefined})
  const dir = t.testdir({token: 'abc,admin,1,system:masters\n', empty: '# none\n', open: 'abc,admin,1\n'})
  for (const f of ['token', 'empty']) fs.chmodSync(path.join(dir, f), 0o600)
  fs.chmodSync(path.join(dir, 'open'), 0o644)
  t.match(
    parseFlags([
      '--port',
      '6443',
      '--kubeconfig',
      'k',
      '--state',
      's',
      '--history',
      '50',
      '--token-file',
      path.join(dir, 'token'),
      '--log',
    ]),
    {
      port: 6443,
      kubeconfig: 'k',
      state: 's',
      history: 50,
      token: undefined,
      tokens: [{token: 'abc', user: {name: 'admin', groups: ['system:masters']}}],
      log: true,
    },
  )
  t.throws(() => parseFlags(['--token-file', path.join(dir, 'empty')]), /holds no token/)
  t.throws(() => parseFlags(['--token-file', path.join(dir, 'open')]), /accessible by group or others/)
  t.throws(() => parseFlags(['--tls-cert-file', 'c']), /go together/)
  t.throws(() => parseFlags(['--port', 'http']), /--port must be an integer/)
  t.throws(() => parseFlags(['--port', '70000']), /--port must be an integer/)
  t.throws(() => parseFlags(['--bogus']), /Unknown option/)
  fs.writeFileSync(path.join(dir, 'sa.key'), Buffer.alloc(32, 7), {mode: 0o600})
  t.same(parseFlags(['--service-account-key-file', path.join(dir, 'sa.key')]).serviceAccountKey, Buffer.alloc(32, 7))
  fs.chmodSync(path.join(dir, 'sa.key'), 0o640)
  t.throws(() => parseFlags(['--service-account-key-file', path.join(dir, 'sa.key')]), /group or others/)
})

t.test('runMain starts the server, writes the kubeconfig, reports the URL', async (t) => {
  const dir = t.testdir()
  const lines: string[] = []
  const server = await runMain(['--kubeconfig', path.join(dir, 'kc'), '--state', path.join(dir, 'state.json')], (l) =>
    lines.push(l),
  )
  t.teardown(() => server.close())
  t.same(lines, [server.url])
  const kc = new k8s.KubeConfig()
  kc.loadFromFile(path.join(dir, 'kc'))
  t.equal(kc.getCurrentCluster()?.server, server.url)
  t.equal(kc.getCurrentContext(), 'cnidbg-lab')
  const core = kc.makeApiClient(k8s.CoreV1Api)
  t.equal((await core.listNamespace()).items.length, 4, 'the written kubeconfig works')
  await t.rejects(
    runMain(['--host', '0.0.0.0'], () => {}),
    /loopback only/,
  )
})

t.test('as a process: prints the URL, keeps state across SIGTERM and restart', async (t) => {
  const dir = t.testdir()
  const bundle = path.join(dir, 'apiserver.mjs')
  const built = await run(
    path.join(repo, 'node_modules/.bin/esbuild'),
    [
      'src/lab/apiserver/main.ts',
      '--bundle',
      '--platform=node',
      '--format=esm',
      `--outfile=${bundle}`,
      '--log-level=warning',
    ],
    {cwd: repo, timeoutMs: 120_000},
  )
  t.equal(built.exitCode, 0, `bundled main.ts ${built.stderr}`)
  const state = path.join(dir, 'state.json')
  const kc = path.join(dir, 'kubeconfig')
  // Start in the background, wait for the URL line, use it, SIGTERM it, report its exit status.
  const script = `
    rm -f "$4/url"
    node "$1" --kubeconfig "$2" --state "$3" > "$4/url" 2> "$4/err" &
    pid=$!
    i=0; until [ -s "$4/url" ] || [ $i -ge 600 ]; do sleep 0.1; i=$((i+1)); done
    url=$(head -n1 "$4/url")
    node -e "$5" "$url" || echo "request failed"
    kill -TERM $pid; wait $pid; echo "exit=$?"`
  const create = `fetch(process.argv[1] + '/api/v1/nodes', {method: 'POST', headers: {'content-type': 'application/json'},
    body: JSON.stringify({metadata: {name: 'n1'}})}).then((r) => process.exit(r.status === 201 ? 0 : 1))`
  const first = await run('sh', ['-c', script, 'sh', bundle, kc, state, dir, create], {timeoutMs: 120_000})
  t.match(
    first.stdout,
    /^exit=0$/m,
    `clean exit on SIGTERM: ${first.stdout} ${fs.readFileSync(path.join(dir, 'err'), 'utf8')}`,
  )
  t.notMatch(first.stdout, /request failed/)
  t.match(fs.readFileSync(path.join(dir, 'url'), 'utf8'), /^http:\/\/127\.0\.0\.1:\d+\n$/, 'one line: the URL')
  t.match(fs.readFileSync(kc, 'utf8'), /current-context: "cnidbg-lab"/)
  const saved = JSON.parse(fs.readFileSync(state, 'utf8'))
  t.equal(saved.objects.nodes[0].metadata.name, 'n1', 'the state file has the node')

  const read = `fetch(process.argv[1] + '/api/v1/nodes/n1').then((r) => process.exit(r.status === 200 ? 0 : 1))`
  const second = await run('sh', ['-c', script, 'sh', bundle, kc, state, dir, read], {timeoutMs: 120_000})
  t.notMatch(second.stdout, /request failed/, 'the restarted server has the node')
  t.match(second.stdout, /^exit=0$/m)

  const refused = await run('node', [bundle, '--host', '0.0.0.0'], {timeoutMs: 60_000})
  t.equal(refused.exitCode, 1)
  t.match(refused.stderr, /loopback only/)
})
