import t from 'tap'

import type {Check} from '../../src/checks/check.js'
import {allChecks} from '../../src/checks/index.js'
import {reproduceLine, type ReproduceRun} from '../../src/conformance/reproduce.js'
import {type ConformanceOptions, decide, runConformance, selectChecks} from '../../src/conformance/runner.js'
import {UsageError} from '../../src/core/errors.js'
import {privateTmpdir} from '../helpers/machine.js'
import {CNI_PATH, workDir, writeConf} from '../helpers/runtime-fixtures.js'

const base: Check = {
  id: 'x.y',
  perVersion: false,
  requirements: ['P1'],
  roles: ['interface'],
  run: async () => ({status: 'pass'}),
  severity: 'should',
  spec: 'SPEC.md#x',
  title: 'x',
}

t.test('decide: severity profiles', async (t) => {
  const v = {message: 'bad', status: 'violation'} as const
  t.equal(decide({...base, severity: 'must'}, v, 'default', false).status, 'fail', 'MUST fails')
  t.equal(decide(base, v, 'default', false).status, 'warn', 'SHOULD warns')
  t.equal(
    decide({...base, productionCritical: true}, v, 'default', false).status,
    'fail',
    'production-critical SHOULD fails by default',
  )
  t.equal(
    decide({...base, productionCritical: true}, v, 'spec-minimum', false).status,
    'warn',
    'spec-minimum fails only MUSTs',
  )
  t.equal(decide(base, v, 'default', true).status, 'fail', '--strict turns warnings into failures')
  const dep = decide({...base, severity: 'must'}, {...v, upstreamDeparture: true}, 'default', false)
  t.same([dep.status, dep.decidedBy], ['warn', 'upstream-departure'], 'known upstream departures warn')
  t.equal(
    decide(base, {message: 'minor', severity: 'info', status: 'violation'}, 'default', true).status,
    'warn',
    'INFO never fails, even strict',
  )
  t.equal(decide(base, {status: 'pass'}, 'default', true).status, 'pass')
})

t.test('selectChecks: roles, ids, globs and requirement ids', async (t) => {
  t.ok(
    selectChecks(allChecks, 'ipam').every((c) => c.roles.includes('ipam')),
    'role filter',
  )
  t.same(
    selectChecks(allChecks, 'interface', ['del.idempotent']).map((c) => c.id),
    ['del.idempotent'],
  )
  t.ok(
    selectChecks(allChecks, 'interface', ['del.*']).every((c) => c.id.startsWith('del.')),
    'glob',
  )
  t.ok(
    selectChecks(allChecks, 'interface', ['P100']).some((c) => c.id === 'concurrency.parallel-add'),
    'by requirement id',
  )
  const loopback = selectChecks(allChecks, 'loopback').map((c) => c.id)
  for (const id of ['env.ifname-length', 'add.existing-ifname-fails', 'del.interface-gone', 'delegation.protocol'])
    t.notOk(loopback.includes(id), `loopback is not held to ${id} (it configures lo whatever CNI_IFNAME says)`)
  t.ok(loopback.includes('del.idempotent') && loopback.includes('add.kernel-matches-result'), 'but to the rest')
  t.notOk(
    selectChecks(allChecks, 'interface', undefined, ['del.*,check.*']).some((c) => /^(del|check)\./.test(c.id)),
    'comma-separated skip',
  )
})

t.test('reproduceLine: the suite again, that check at that version, as sandboxed as the run', async (t) => {
  const run: ReproduceRun = {
    cniPath: ['bin', '/usr/lib/cni'],
    conf: '/etc/cni/net.d/my net.conflist',
    contextInConf: true,
    highest: '1.0.0',
    host: false,
    profile: 'default',
    role: 'chained',
    served: false,
    strict: false,
    timeoutSeconds: 30,
  }
  const cwd = process.cwd()
  t.equal(
    reproduceLine(run, {id: 'del.idempotent', status: 'fail', version: '0.4.0'}),
    `cnidbg conformance '/etc/cni/net.d/my net.conflist' --only del.idempotent --versions 0.4.0 --role chained --cni-path ${cwd}/bin:/usr/lib/cni`,
  )
  t.match(
    reproduceLine(run, {id: 'x.y', status: 'warn', version: null}),
    / --versions 1\.0\.0 .* --strict$/,
    'a warning fails under --strict; a version-independent check ran at the highest',
  )
  t.match(
    reproduceLine(run, {context: true, id: 'x.y', status: 'fail', version: '1.0.0'}),
    / --role interface /,
    'context: the list in the interface role, where it fails',
  )
  const lone = {
    ...run,
    contextInConf: false,
    suiteChain: {cniPath: ['bin', '/usr/lib/cni'], conf: '{"name":"n","plugins":[{"type":"ptp"},{"type":"sbr"}]}'},
  }
  t.equal(
    reproduceLine(lone, {context: true, id: 'x.y', status: 'warn', version: '1.0.0'}),
    `printf '%s\\n' '{"name":"n","plugins":[{"type":"ptp"},{"type":"sbr"}]}' | cnidbg conformance /dev/stdin --only x.y --versions 1.0.0 --role interface --cni-path ${cwd}/bin:/usr/lib/cni --strict`,
    'context of a lone chained plugin: the list the suite ran, piped in, in the interface role',
  )
  t.match(
    reproduceLine(lone, {id: 'x.y', status: 'fail', version: '1.0.0'}),
    /^cnidbg conformance '\/etc\/cni\/net.d\/my net.conflist' .* --role chained /,
    'its own findings: the config as given',
  )
  t.match(
    reproduceLine(
      {...run, host: true, profile: 'spec-minimum', strict: true, timeoutSeconds: 5},
      {id: 'x.y', status: 'fail', version: '1.0.0'},
    ),
    / --profile spec-minimum --strict --host --timeout 5$/,
  )
  t.match(
    reproduceLine({...run, role: 'interface', served: true}, {id: 'x.y', status: 'fail', version: '1.0.0'}),
    / --role interface --cni-path \S+ --served$/,
    'served mode: the check again, served',
  )
})

t.test('checks the tested versions lack: a usage error when none runs, a skip saying why when others do', async (t) => {
  const conf = new URL('../../fixtures/conf/upstream-ptp.conflist', import.meta.url).pathname
  const opts: ConformanceOptions = {
    cniPath: ['/usr/lib/cni'],
    conf,
    host: false,
    parallel: 1,
    profile: 'default',
    strict: false,
    timeoutSeconds: 30,
  }
  // Debian's ptp stops at 1.0.0, and STATUS and GC are 1.1.0 verbs: a CI gate would go green on nothing.
  await t.rejects(runConformance({...opts, only: ['status.*,gc.*']}), {
    cnidbgCode: 'NO_CASES',
    constructor: UsageError,
    message:
      /^No selected check applies at the versions tested \(0\.1\.0, .*1\.0\.0\): status\.ready applies from cniVersion 1\.1\.0; gc\.cleans-leaked applies from cniVersion 1\.1\.0\.$/,
  })
  const report = await runConformance({...opts, only: ['status.ready,version.output'], versions: ['1.0.0']})
  t.match(
    report.checks.map((c) => [c.id, c.status, c.message]),
    [
      ['version.output', 'pass', ''],
      ['status.ready', 'skip', 'not tested: it applies from cniVersion 1.1.0, and this run tests 1.0.0'],
    ],
  )
  t.equal(report.summary.skipped, 1)
})

t.test('a result with 3,300 problems: a message of 4,000 characters, evidence cut, no unrunnable line', async (t) => {
  privateTmpdir(t)
  // cnidbg-wide's addresses all name an interface its result lacks, and its result, as the DEL's
  // prevResult, is over the 128 KiB a command-line argument may hold. The message was 190 kB.
  const conf = writeConf(workDir(t), 'wide.conf', {cniVersion: '1.0.0', name: 'wide', type: 'cnidbg-wide'})
  const report = await runConformance({
    cniPath: CNI_PATH,
    conf,
    host: false,
    only: ['add.result-schema'],
    parallel: 1,
    profile: 'default',
    strict: false,
    timeoutSeconds: 30,
  })
  const [check] = report.checks
  t.equal(check?.status, 'fail')
  t.ok(check!.message.length < 4100, `message of ${check!.message.length} characters`)
  t.match(check!.message, /P\d+: ips\[0\]\.interface 7 is out of range .*…\[\d+ more characters cut\]$/)
  t.match(check!.evidence?.observed, /…\[\d+ more characters cut\]$/)
  t.ok(check!.evidence!.observed!.length < 2100, 'observed is cut')
  const byHand = check!.evidence?.byHand ?? []
  t.match(byHand.at(-1), /^# call 2 \(DEL\): its stdin is \d+ bytes, more than one command-line argument may hold/)
  t.ok(
    byHand.every((l) => Buffer.byteLength(l) < 128 * 1024),
    'every line by hand fits in one command-line argument',
  )
})
