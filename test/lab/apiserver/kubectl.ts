// kubectl against the lab apiserver, as a user would run it. Set CNIDBG_KUBECTLS to a colon-separated
// list of kubectl binaries to try several versions (e.g. Debian's 1.20 and a current one).
import fs from 'node:fs'
import path from 'node:path'

import t from 'tap'

import {run, type RunResult} from '../../../src/process/exec.js'
import {startApiServer} from '../../../src/lab/apiserver/server.js'
import {nodeObject, podObject, runningStatus, waitFor} from './helpers/fixtures.js'

const KUBECTLS = (process.env.CNIDBG_KUBECTLS || process.env.CNIDBG_KUBECTL || 'kubectl').split(':').filter(Boolean)

/** Column values of the row whose first cell after an optional NAMESPACE column is `name`. */
function row(stdout: string, name: string): Record<string, string> | undefined {
  const lines = stdout.split('\n')
  for (let i = 0; i < lines.length; i++) {
    if (!/^(NAMESPACE\s+)?NAME\s/.test(lines[i])) continue
    const header = lines[i]
    // Column starts: kubectl pads cells, so headers and cells start at the same offsets.
    const starts = [...header.matchAll(/\S+(?: \S+)*/g)].map((m) => ({name: m[0], at: m.index ?? 0}))
    for (let j = i + 1; j < lines.length && lines[j].trim() !== ''; j++) {
      const cells = Object.fromEntries(
        starts.map((c, k) => [
          c.name,
          lines[j].slice(c.at, k + 1 < starts.length ? starts[k + 1].at : undefined).trim(),
        ]),
      )
      if (cells.NAME === name) return cells
    }
  }
  return undefined
}

for (const kubectl of KUBECTLS) {
  t.test(`kubectl (${kubectl}) against the lab apiserver`, async (t) => {
    const dir = t.testdir()
    const server = await startApiServer()
    t.teardown(() => server.close())
    const kubeconfig = path.join(dir, 'kubeconfig')
    server.writeKubeconfig(kubeconfig)
    t.equal(fs.statSync(kubeconfig).mode & 0o777, 0o600, 'kubeconfig is private')
    const k = (args: string[], input?: string): Promise<RunResult> =>
      run(kubectl, ['--cache-dir', path.join(dir, 'cache'), ...args], {
        env: {KUBECONFIG: kubeconfig},
        input,
        timeoutMs: 120_000,
      })
    const ok = async (args: string[], input?: string): Promise<string> => {
      const r = await k(args, input)
      t.equal(r.exitCode, 0, `kubectl ${args.join(' ')}${r.exitCode === 0 ? '' : `: ${r.spawnError ?? r.stderr}`}`)
      return r.stdout
    }

    const version = await k(['version', '--client', '-o', 'json'])
    if (version.spawnError) {
      t.fail(`${kubectl} cannot run (${version.spawnError}); scripts/setup.sh installs kubectl`)
      return
    }
    const minor = Number(JSON.parse(version.stdout).clientVersion.minor.replace(/\D/g, ''))
    t.comment(`kubectl client 1.${minor}`)

    const {store} = server
    store.create('nodes', undefined, nodeObject('lab-n1', '10.99.0.1'))
    store.create('pods', 'default', podObject('web-1', 'lab-n1'))
    store.patch('pods', 'default', 'web-1', 'merge', runningStatus('10.244.1.5'), {subresource: 'status'})
    store.create('pods', 'kube-system', podObject('pending-1', 'lab-n1'))

    const wide = await ok(['get', 'nodes,pods', '-o', 'wide', '-A'])
    t.match(
      row(wide, 'node/lab-n1'),
      {STATUS: 'Ready', ROLES: 'worker', VERSION: 'v1.30.0', 'INTERNAL-IP': '10.99.0.1'},
      wide,
    )
    t.match(row(wide, 'pod/web-1'), {
      NAMESPACE: 'default',
      READY: '1/1',
      STATUS: 'Running',
      IP: '10.244.1.5',
      NODE: 'lab-n1',
    })
    t.match(row(wide, 'pod/pending-1'), {NAMESPACE: 'kube-system', STATUS: 'Pending', IP: '<none>'})

    const json = JSON.parse(await ok(['get', 'pods', '-n', 'default', '-o', 'json']))
    t.same(
      json.items.map((p: {metadata: {name: string}; status: {podIP: string}}) => [p.metadata.name, p.status.podIP]),
      [['web-1', '10.244.1.5']],
    )
    t.match(row(await ok(['get', 'po', '-l', 'app=web', '--field-selector', 'spec.nodeName=lab-n1', '-A']), 'web-1'), {
      NAMESPACE: 'default',
    })
    t.match(row(await ok(['get', 'ns']), 'kube-system'), {STATUS: 'Active'})
    t.match(row(await ok(['get', 'no', 'lab-n1']), 'lab-n1'), {STATUS: 'Ready'})

    const described = await ok(['describe', 'node', 'lab-n1'])
    t.match(described, /InternalIP:\s+10\.99\.0\.1/)
    t.match(described, /Non-terminated Pods:\s+\(2 in total\)/)

    await ok(['annotate', 'node', 'lab-n1', 'cnidbg.io/checked=yes'])
    t.equal(store.get('nodes', undefined, 'lab-n1')?.metadata.annotations?.['cnidbg.io/checked'], 'yes')
    await ok(['label', 'pod', 'web-1', 'tier=front'])
    await ok(['patch', 'pod', 'web-1', '-p', '{"metadata":{"labels":{"strategic":"1"}}}'])
    await ok(['patch', 'pod', 'web-1', '--type=merge', '-p', '{"metadata":{"labels":{"merge":"1"}}}'])
    await ok([
      'patch',
      'pod',
      'web-1',
      '--type=json',
      '-p',
      '[{"op":"add","path":"/metadata/labels/json","value":"1"}]',
    ])
    t.same(store.get('pods', 'default', 'web-1')?.metadata.labels, {
      app: 'web',
      tier: 'front',
      strategic: '1',
      merge: '1',
      json: '1',
    })
    if (minor >= 24) {
      await ok([
        'patch',
        'pod',
        'web-1',
        '--subresource=status',
        '--type=merge',
        '-p',
        '{"status":{"podIP":"10.244.1.6"}}',
      ])
      t.equal(store.get('pods', 'default', 'web-1')?.status?.podIP, '10.244.1.6')
    }

    // create -f and apply -f: kubectl validates against /openapi/v2 first.
    const manifest = JSON.stringify(podObject('from-file', 'lab-n1'))
    await ok(['create', '-f', '-'], manifest)
    t.ok(store.get('pods', 'default', 'from-file'), 'kubectl create -f')
    await ok(
      ['apply', '-f', '-'],
      JSON.stringify({...podObject('from-file', 'lab-n1'), metadata: {name: 'from-file', labels: {applied: 'yes'}}}),
    )
    t.equal(store.get('pods', 'default', 'from-file')?.metadata.labels?.applied, 'yes', 'kubectl apply -f')

    // --watch: wait for kubectl's watch to reach the server, change things, then end the stream.
    const watchesBefore = server.watchCount
    const watching = k(['get', 'pods', '--watch', '-o', 'wide'])
    await waitFor('kubectl to watch', () => server.watchCount > watchesBefore)
    store.create('pods', 'default', podObject('web-2', 'lab-n1'))
    store.patch('pods', 'default', 'web-2', 'merge', runningStatus('10.244.1.9'), {subresource: 'status'})
    server.endWatches()
    const watched = await watching
    t.notOk(watched.timedOut, 'kubectl get --watch ended when the server ended the watch')
    const web2 = watched.stdout.split('\n').filter((l) => l.startsWith('web-2 '))
    t.ok(web2.length >= 2, `kubectl printed web-2's events:\n${watched.stdout}${watched.stderr}`)
    t.match(web2.at(-1), /Running.*10\.244\.1\.9\s+lab-n1/)

    const deleted = await ok(['delete', 'pod', 'web-1'])
    t.match(deleted, /pod "web-1" deleted/)
    t.equal(store.get('pods', 'default', 'web-1'), undefined)
    const missing = await k(['get', 'pod', 'web-1'])
    t.not(missing.exitCode, 0)
    t.match(missing.stderr, /NotFound|not found/)
  })
}
