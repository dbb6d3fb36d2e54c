// scripts/warm-test-loader.mjs fills the test loader's cache with what a test process would put there:
// after it ran, a process that loads tap, client-node's door and a source through the loader transpiles
// and bundles nothing (it only adds tap's V8 code cache), and one whose source changed since does. Run in
// a copy of the repository's layout with a few sources, so the shared cache the other tests use is
// neither read nor written.
import {appendFileSync, cpSync, mkdirSync, readdirSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {run} from '../../src/process/exec.js'
import {ROOT} from '../helpers/capture.js'

const PROBE = [
  "import t from 'tap'",
  "import {parseCIDR} from '../src/core/ip.js'",
  "import {KubeConfig} from '../src/kube/client.js'",
  "t.ok(parseCIDR('10.0.0.0/8') && typeof KubeConfig === 'function')",
].join('\n')

t.test('after the warm-up a test process finds what it loads in the cache', async (t) => {
  const dir = t.testdir()
  cpSync(join(ROOT, 'scripts'), join(dir, 'scripts'), {recursive: true})
  cpSync(join(ROOT, 'package-lock.json'), join(dir, 'package-lock.json'))
  // The same packages, but a cache of its own: node_modules/.cache is the one entry not linked.
  mkdirSync(join(dir, 'node_modules'))
  for (const e of readdirSync(join(ROOT, 'node_modules'))) {
    if (e !== '.cache') symlinkSync(join(ROOT, 'node_modules', e), join(dir, 'node_modules', e))
  }
  for (const f of ['src/core/ip.ts', 'src/kube/client.ts']) {
    mkdirSync(join(dir, f, '..'), {recursive: true})
    cpSync(join(ROOT, f), join(dir, f))
  }
  mkdirSync(join(dir, 'test'))
  writeFileSync(join(dir, 'test', 'probe.ts'), PROBE)
  const cache = join(dir, 'node_modules', '.cache', 'cnidbg-test-loader')
  const entries = () => readdirSync(cache).sort()
  const probe = () =>
    run(process.execPath, ['--import', join(dir, 'scripts', 'test-loader.mjs'), join(dir, 'test', 'probe.ts')], {
      timeoutMs: 120_000,
    })

  const warm = await run(process.execPath, [join(dir, 'scripts', 'warm-test-loader.mjs')], {timeoutMs: 120_000})
  t.equal(warm.exitCode, 0, warm.stderr)
  t.match(warm.stdout, /3 of 3 sources and the tap bundle in the cache/)
  const warmed = entries()

  const first = await probe()
  t.equal(first.exitCode, 0, first.stderr)
  t.match(first.stdout, /^ok 1/m, 'the probe ran')
  t.same(
    entries().filter((e) => !warmed.includes(e) && !e.endsWith('.cache')),
    [],
    'nothing transpiled or bundled: every key the process asked for was there',
  )

  // A source the warm-up did not see is transpiled by the process, as before (and so the check above
  // can fail).
  appendFileSync(join(dir, 'src', 'core', 'ip.ts'), '\n// changed\n')
  const second = await probe()
  t.equal(second.exitCode, 0, second.stderr)
  t.equal(entries().filter((e) => !warmed.includes(e) && e.endsWith('.mjs')).length, 1, 'the changed source')
})
