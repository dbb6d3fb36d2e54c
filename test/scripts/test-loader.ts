// scripts/test-loader.mjs: the programs a test starts begin as a user's would, without tap's process
// tracker or this loader (in NODE_OPTIONS or on their command line) and without NODE_EXTRA_CA_CERTS;
// the tracker does not load in the test process itself, and no spawn hook of its is on. client-node's
// door is the CLI's bundle, and tap is one bundle too.
import {spawnSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import t from 'tap'

import {run} from '../../src/process/exec.js'

const PROBE =
  'console.log(JSON.stringify([process.env.NODE_OPTIONS ?? "", process.execArgv, "NODE_EXTRA_CA_CERTS" in process.env]))'

t.test('a Node program a test starts has no tracker and no extra CA bundle', async (t) => {
  for (const [how, stdout] of [
    ['run()', (await run(process.execPath, ['-e', PROBE])).stdout],
    ['spawnSync', spawnSync(process.execPath, ['-e', PROBE], {encoding: 'utf8'}).stdout],
  ] as const) {
    const [options, execArgv, extraCa] = JSON.parse(stdout) as [string, string[], boolean]
    t.notMatch(options, /processinfo/, `${how}: NODE_OPTIONS without the tracker`)
    t.notMatch(options, /test-loader/, `${how}: NODE_OPTIONS without the test loader`)
    t.same(
      execArgv.filter((a) => /^(--import|--require|-r|--loader|--experimental-loader)\b/.test(a)),
      [],
      `${how}: nothing preloaded`,
    )
    t.equal(extraCa, false, `${how}: no NODE_EXTRA_CA_CERTS`)
  }
})

t.test("tap's process tracker, which tap's runner preloads, does not load in a test process", async (t) => {
  t.ok(
    process.execArgv.some((a) => a.endsWith('/@tapjs/processinfo/dist/esm/import.mjs')),
    "tap's runner preloads it (else the loader's stand-in for it has nothing left to do)",
  )
  t.equal(
    (globalThis as Record<symbol, unknown>)[Symbol.for('@tapjs/processinfo.ProcessInfoNodeData')],
    undefined,
    'it recorded nothing: an empty module stood in for it',
  )
})

t.test("the tracker's spawn hook is off", async (t) => {
  const hooks = (globalThis as Record<symbol, {listeners?: unknown[]} | undefined>)[
    Symbol.for('process-on-spawn@*:singletonId')
  ]
  t.same(hooks?.listeners ?? [], [], 'no listener left to run on a spawn')
})

t.test("client-node's door loads as the one bundle the CLI ships, with every name it exports", async (t) => {
  const door = new URL('../../src/kube/client.ts', import.meta.url)
  const source = readFileSync(door, 'utf8')
  // The value names of its `export {…} from '@kubernetes/client-node'` (not the `export type` list).
  const values = /^export \{([^}]*)\} from '@kubernetes\/client-node'/m.exec(source)?.[1]
  t.ok(values, 'the door re-exports values from client-node')
  const names = (values ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean)
    .sort()
  const loaded = (await import(door.href)) as Record<string, unknown>
  t.same(Object.keys(loaded).sort(), names, 'the loaded door has exactly those names')
  // The bundle, not client-node's index: the bundle is minified, client-node's own files are not.
  const kubeConfig = String(loaded.KubeConfig)
  t.match(kubeConfig, /^class/, "KubeConfig is client-node's class")
  t.notMatch(kubeConfig, /\n/, 'from the minified bundle')
})

t.test("tap loads as one bundle, and a failure still points at the test's own line", async (t) => {
  t.match(import.meta.resolve('tap'), /\/node_modules\/\.cache\/cnidbg-test-loader\/[0-9a-f]+\.mjs$/, 'the bundle')
  // A failing assertion in a program of its own, as a test file's would fail: its location is the
  // failing line, not a frame inside the bundle.
  const loader = fileURLToPath(new URL('../../scripts/test-loader.mjs', import.meta.url))
  const child = spawnSync(
    process.execPath,
    [
      '--import',
      loader,
      '--input-type=module',
      '-e',
      "import t from 'tap'\nt.test('sub', async (t) => {\n  t.equal(1, 2, 'probe')\n})",
    ],
    {encoding: 'utf8', cwd: fileURLToPath(new URL('../..', import.meta.url))},
  )
  t.match(child.stdout, /^ {4}not ok 1 - probe$/m, 'the probe failed')
  t.match(child.stdout, /^ {6}at:\n {8}fileName: "\[eval1\]"\n {8}lineNumber: 3\n/m, 'at the line that failed')
  t.match(child.stdout, /^ {6}stack: \|\n {8}Test\.<anonymous> \(\[eval1\]:3:5\)\n/m, 'its stack starts there')
  t.notMatch(child.stdout, /node_modules/, 'no frame of tap in the report')
})

t.test('tcompare, which formats and compares for tap, is in the bundle and still draws a diff', async (t) => {
  const loader = fileURLToPath(new URL('../../scripts/test-loader.mjs', import.meta.url))
  const probe = [
    "import Module from 'node:module'",
    "import t from 'tap'",
    "t.same({a: [1, 2]}, {a: [1, 3]}, 'probe')",
    // Every CommonJS module loaded from the installed tcompare (none when the bundle has it).
    "process.on('exit', () => console.log('# loaded: ' + JSON.stringify(Object.keys(Module._cache).filter((k) => k.includes('/node_modules/tcompare/')))))",
  ].join('\n')
  const child = spawnSync(process.execPath, ['--import', loader, '--input-type=module', '-e', probe], {
    encoding: 'utf8',
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
  })
  t.match(child.stdout, /^not ok 1 - probe$/m, 'the probe failed')
  t.match(child.stdout, /^ {2}diff: \|\n/m, 'with a diff')
  t.match(child.stdout, /^ {4}-\s+3,$/m, "the expected side's element")
  t.match(child.stdout, /^ {4}\+\s+2,$/m, "the actual side's element")
  t.match(child.stdout, /^# loaded: \[\]$/m, 'no module of the installed tcompare loaded')
})
