/**
 * `cnidbg demo` on a machine that can't run it: the preflight comes before any output, so a
 * non-root user gets only the exit-3 error, not a heading and then the error. And what its --help and
 * the README say it breaks is what it breaks.
 */
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import Demo from '../../src/commands/demo.js'
import {run} from '../../src/process/exec.js'
import {ROOT, stripAnsi} from '../helpers/capture.js'

/** How the texts name each fault the demo injects (its SCENARIOS in src/services/demo.ts). */
const NAMED: Record<string, RegExp> = {
  'fdb-stale': /stale\s+FDB\s+entry/,
  'iptables-drop-forward': /iptables DROP/,
  'ip-forward-off': /ip_forward`? off/,
  'underlay-mtu': /too-small\s+underlay\s+MTU/,
  'policy-deny-ingress': /NetworkPolicy\s+that\s+denies\s+all\s+ingress/,
  'pod-labels-removed': /Service\s+with\s+no\s+endpoints/,
}

t.test('--help and the README name every fault the demo injects, and only those', async (t) => {
  const service = readFileSync(join(ROOT, 'src', 'services', 'demo.ts'), 'utf8')
  const scenarios = service.slice(service.indexOf('const SCENARIOS'))
  const faults = [...scenarios.matchAll(/^\s+fault: '([^']+)'/gm)].map((m) => m[1]!)
  t.same(faults.toSorted(), Object.keys(NAMED).toSorted(), 'this table has every scenario')
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('### `cnidbg demo`'), readme.indexOf('## JSON output'))
  for (const [fault, words] of Object.entries(NAMED)) {
    t.match(Demo.description, words, `--help: ${fault}`)
    t.match(section, words, `README: ${fault}`)
  }
})

const bin = join(ROOT, 'bin', 'run.js')
const noDist = existsSync(join(ROOT, 'dist', 'commands', 'demo.js')) ? false : 'dist/ is not built'

t.test('as an unprivileged user: exit 3, stdout empty (or only the envelope)', {skip: noDist}, async (t) => {
  const home = t.testdir({})
  // nobody, with a HOME it may read, so oclif's own config lookup stays quiet.
  const asNobody = (...argv: string[]) =>
    run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'node', bin, 'demo', ...argv], {
      env: {HOME: home, XDG_CONFIG_HOME: home, XDG_DATA_HOME: home, XDG_CACHE_HOME: home},
      timeoutMs: 60_000,
    })
  const h = await asNobody()
  t.equal(h.exitCode, 3, h.stderr)
  t.equal(h.stdout, '', 'nothing on stdout: no heading before the error')
  t.match(stripAnsi(h.stderr), /^Error: cnidbg needs root/m)
  const j = await asNobody('--json')
  t.equal(j.exitCode, 3, j.stderr)
  t.match(JSON.parse(j.stdout), {command: 'demo', error: {code: 'NOT_ROOT'}, status: 3})
})

t.test(
  'with TMPDIR naming a missing directory: exit 3 naming TMPDIR, not an internal error',
  {skip: noDist},
  async (t) => {
    const missing = join(t.testdir({}), 'gone')
    for (const json of [false, true]) {
      const r = await run('node', [bin, 'demo', ...(json ? ['--json'] : [])], {
        env: {TMPDIR: missing},
        timeoutMs: 60_000,
      })
      t.equal(r.exitCode, 3, r.stderr)
      if (json) {
        t.match(JSON.parse(r.stdout), {
          command: 'demo',
          status: 3,
          error: {
            code: 'TMPDIR_UNUSABLE',
            message: `Can't create a temporary directory in TMPDIR (${missing}): it does not exist.`,
          },
        })
      } else {
        t.match(
          stripAnsi(r.stderr),
          /^Error: Can't create a temporary directory in TMPDIR \(.*\/gone\): it does not exist\./m,
        )
        t.notMatch(r.stderr, /bug in cnidbg/)
      }
    }
  },
)
