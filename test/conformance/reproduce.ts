/**
 * The reproduce lines of the broken fixtures' failures reproduce them: the primary line (the suite
 * again, only that check at that version) exits 1, and the by-hand lines (`cnidbg exec invoke …
 * --sandbox`) run every plugin call again; neither changes anything outside its sandbox (the root
 * namespace's links, addresses and routes, ip_forward and /var/lib/cni stay as they were), and the
 * by-hand sandbox is gone after its last line.
 */
import {EventEmitter} from 'node:events'
import {mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import t from 'tap'

import {type RunEmitter, runConformance} from '../../src/conformance/runner.js'
import {ipJson, readMarkers} from '../../src/netns/index.js'
import {installSignalCleanup} from '../../src/process/cleanup.js'
import {run} from '../../src/process/exec.js'
import {manifest} from '../helpers/fixture-suite.js'
import {assertNothingLeft, machineState} from '../helpers/machine.js'

const ROOT = new URL('../../', import.meta.url).pathname
// One per kind of evidence: a failing call, a lie in the result, a namespace removed before DEL,
// tampering before CHECK, the IPAM role, a chained plugin, a delegate seen through the spy.
const FIXTURES = [
  'broken-del-not-idempotent',
  'broken-phantom-ip',
  'broken-del-needs-netns',
  'broken-check-always-ok',
  'broken-ipam-interfaces',
  'broken-chained-drops-prevresult',
  'broken-delegate-env',
]

t.setTimeout(30 * 60 * 1000)
installSignalCleanup()
const before = await machineState()
// `cnidbg` on PATH, as a user who pastes the line has it.
const bin = mkdtempSync(join(tmpdir(), 'cnidbg-reproduce-'))
symlinkSync(join(ROOT, 'bin/run.js'), join(bin, 'cnidbg'))
t.teardown(() => rmSync(bin, {force: true, recursive: true}))
const PATH = `${bin}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`

/** Every file under a directory, with its size: what a plugin run on this host would change. */
function tree(dir: string): string[] {
  let names: string[] = []
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  return names.flatMap((n) => {
    const p = join(dir, n)
    const s = statSync(p)
    return s.isDirectory() ? [`${p}/`, ...tree(p)] : [`${p} ${s.size}`]
  })
}

/** Everything outside a sandbox that a plugin run on this host would change. */
async function hostState(): Promise<string[]> {
  const links = await ipJson<Array<{ifname: string; address?: string; flags?: string[]}>>(['link', 'show'])
  const addrs = await ipJson<Array<{ifname: string; addr_info?: Array<{local: string; prefixlen: number}>}>>([
    'addr',
    'show',
  ])
  const routes = await ipJson<Array<{dst: string; dev?: string; gateway?: string}>>(['route', 'show', 'table', 'all'])
  return [
    ...links.map((l) => `link ${l.ifname} ${l.address ?? ''} ${(l.flags ?? []).join(',')}`),
    ...addrs.flatMap((l) => (l.addr_info ?? []).map((a) => `addr ${a.local}/${a.prefixlen} ${l.ifname}`)),
    ...routes.map((r) => `route ${r.dst} ${r.gateway ?? ''} ${r.dev ?? ''}`),
    `ip_forward ${readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim()}`,
    ...tree('/var/lib/cni'),
  ].sort()
}

const sh = (line: string) => run('sh', ['-c', line], {env: {PATH}, timeoutMs: 10 * 60_000})

for (const f of manifest().filter((e) => FIXTURES.includes(e.name))) {
  t.test(`${f.name}: its failures' reproduce lines reproduce them, sandboxed`, async (t) => {
    const report = await runConformance(
      {
        cniPath: [`${ROOT}fixtures/plugins/bin`, '/usr/lib/cni'],
        conf: `${ROOT}${f.conf}`,
        host: false,
        only: f.breaks,
        parallel: 2,
        profile: 'default',
        role: f.role,
        strict: true,
        timeoutSeconds: 30,
        versions: ['highest'],
      },
      new EventEmitter() as RunEmitter,
    )
    const failures = report.checks.filter((c) => c.status === 'fail')
    t.ok(failures.length > 0, `the fixture fails (${f.breaks.join(', ')})`)
    for (const c of failures) {
      const e = c.evidence ?? {}
      t.match(e.reproduce, new RegExp(`^cnidbg conformance \\S+ --only ${c.id} --versions ${report.versions.at(-1)} `))
      const host = await hostState()
      const again = await sh(e.reproduce!)
      t.equal(again.exitCode, 1, `${c.id}: the primary line exits 1 (${again.stderr.slice(-300)})`)
      t.same(await hostState(), host, `${c.id}: the primary line changed nothing outside its sandbox`)
      const lines = (e.byHand ?? []).filter((l) => !l.startsWith('#'))
      t.ok(lines.length > 0 && lines.every((l) => l.startsWith('cnidbg exec invoke ')), 'by-hand lines, one per call')
      t.ok(
        lines.every((l) => / --sandbox repro-[0-9a-f]{6} /.test(l)),
        'every one in the sandbox',
      )
      t.match(lines.at(-1), / --rm$/, 'the last one removes it')
      for (const l of lines) await sh(l)
      t.same(await hostState(), host, `${c.id}: the by-hand lines changed nothing outside their sandbox`)
      const name = / --sandbox (repro-[0-9a-f]{6}) /.exec(lines[0]!)![1]
      t.same(
        readMarkers().filter((m) => m.label === `exec invoke ${name}`),
        [],
        'the by-hand sandbox is gone',
      )
    }
  })
}

t.test(
  "a lone chained plugin: a finding about the suite's upstream reproduces on the list the suite ran",
  async (t) => {
    // sbr moves ptp's routes to a table of their own, and ptp's CHECK then fails: a known departure of
    // ptp, so a warning about it (context), which the line asks with --strict in the interface role.
    const report = await runConformance(
      {
        cniPath: ['/usr/lib/cni'],
        conf: `${ROOT}fixtures/conf/upstream-sbr.conflist`,
        host: false,
        only: ['check.after-add'],
        parallel: 1,
        profile: 'default',
        role: 'chained',
        strict: false,
        timeoutSeconds: 30,
        versions: ['1.0.0'],
      },
      new EventEmitter() as RunEmitter,
    )
    const [finding] = report.checks
    t.match(finding, {context: true, id: 'check.after-add', plugin: 'ptp', status: 'warn'})
    const line = finding!.evidence!.reproduce!
    t.match(
      line,
      /^printf '%s\\n' '\{.*"type":"ptp".*"type":"sbr".*\}' \| cnidbg conformance \/dev\/stdin .* --role interface /,
    )
    const host = await hostState()
    const again = await sh(line)
    t.equal(again.exitCode, 1, `the line exits 1 (${again.stdout.slice(-300)}${again.stderr.slice(-300)})`)
    t.same(await hostState(), host, 'and changed nothing outside its sandbox')
  },
)

t.test('left nothing behind', async (t) => {
  await assertNothingLeft(t, before)
})
