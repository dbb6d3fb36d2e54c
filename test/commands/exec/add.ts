/**
 * `cnidbg exec add` as a command: flags reach the service, --json prints the one envelope,
 * people get a summary, errors are one line with the documented exit code. Plus a smoke test of the
 * built CLI as a subprocess.
 */
import {execFileSync, spawn} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import ExecAdd from '../../../src/commands/exec/add.js'
import {run} from '../../../src/process/exec.js'
import type {ExecResult} from '../../../src/services/exec.js'
import {ROOT, runCommand, stripAnsi} from '../../helpers/capture.js'
import {assertNothingLeft, machineState, privateTmpdir} from '../../helpers/machine.js'
import {
  CNI_PATH,
  FIXTURES,
  fixtureConf,
  haveUpstream,
  readSpyLog,
  spy,
  workDir,
  writeConf,
} from '../../helpers/runtime-fixtures.js'

const before = await machineState()
const tmp = privateTmpdir(t)
const work = workDir(t)
const bridge = join(FIXTURES, 'bridge.conflist')
const cniPath = CNI_PATH.join(':')
const skip = haveUpstream('bridge', 'host-local') ? false : 'no upstream plugins in /usr/lib/cni'
const add = (argv: string[]) => runCommand<ExecResult>(ExecAdd, 'exec:add', argv)

interface Envelope {
  schemaVersion: number
  command: string
  status: number
  result?: ExecResult
  warnings: string[]
  error?: {code: string; message: string; suggestions: string[]}
}

t.test('--json: the envelope, with the result and the attachment', {skip}, async (t) => {
  const c = await add(['--conf', bridge, '--cni-path', cniPath, '--rm', '--json'])
  t.equal(c.exitCode, 0, c.stderr)
  t.equal(c.stderr, '', 'nothing on stderr')
  const env = JSON.parse(c.stdout) as Envelope
  t.same(Object.keys(env).sort(), ['command', 'result', 'schemaVersion', 'status', 'warnings'])
  t.match(env, {command: 'exec add', schemaVersion: 1, status: 0, warnings: []})
  t.match(env.result, {
    attachment: {
      containerId: /^cnidbg-[0-9a-f]{20}$/,
      ifname: 'eth0',
      netns: /^\/run\/netns\/cnidbg-[0-9a-f]{6}-ctr$/,
      network: 'cnidbg-t-bridge',
    },
    cniVersion: '1.0.0',
    ok: true,
    removed: true,
    result: {cniVersion: '1.0.0', interfaces: Array, ips: [{address: '10.231.0.2/24', gateway: '10.231.0.1'}]},
    verb: 'add',
  })
  t.same(
    env.result?.invocations.map((i) => `${i.verb} ${i.plugin}`),
    ['ADD bridge', 'DEL bridge'],
  )
  t.same(env.result, JSON.parse(JSON.stringify(c.result)), 'what run() returns is what is printed')
})

t.test(
  'human output: interfaces with namespace, addresses, routes; --verbose shows each invocation',
  {skip},
  async (t) => {
    const c = await add(['--conf', bridge, '--cni-path', cniPath, '--rm', '--verbose'])
    t.equal(c.exitCode, 0, c.stderr)
    const out = stripAnsi(c.stdout)
    t.match(out, /^✓ ADD cnidbg-t-bridge \(cniVersion 1\.0\.0\) in \d+ ms$/m)
    t.match(out, /interfaces {2}cnidbgt0 \(host\) [0-9a-f:]{17}/)
    t.match(out, /eth0 \(\/run\/netns\/cnidbg-[0-9a-f]{6}-ctr\) [0-9a-f:]{17}/)
    t.match(out, /addresses {3}10\.231\.0\.2\/24 on eth0 gw 10\.231\.0\.1/)
    t.match(out, /routes {6}0\.0\.0\.0\/0/)
    t.match(out, /throwaway namespaces removed/)
    const err = stripAnsi(c.stderr)
    t.match(err, /▶ bridge ADD {2}exit 0 {2}\d+ ms {2}\/usr\/lib\/cni\/bridge/)
    t.match(
      err,
      /env {4}CNI_COMMAND=ADD CNI_ARGS= CNI_CONTAINERID=cnidbg-[0-9a-f]+ CNI_IFNAME=eth0 CNI_NETNS=\/run\/netns\/cnidbg-/,
    )
    t.match(err, /stdin {2}\{"type":"bridge"/)
    t.match(err, /▶ bridge DEL/)
  },
)

t.test('flags reach the plugins: --ifname, --container-id, --args, --cap-args', {skip}, async (t) => {
  const log = join(work, 'flags.log')
  const conf = writeConf(work, 'flags.conflist', {
    cniVersion: '1.0.0',
    name: 'flags',
    plugins: [spy(log, 'x', {capabilities: {portMappings: true}})],
  })
  const caps = '{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}],"bandwidth":{}}'
  const c = await add([
    '--conf',
    conf,
    '--cni-path',
    cniPath,
    '--rm',
    '--json',
    '--ifname',
    'net1',
    '--container-id',
    'ctr-1',
    '--args',
    'IgnoreUnknown=1;K8S_POD_NAME=web-0',
    '--cap-args',
    caps,
    '--timeout',
    '7',
  ])
  t.equal(c.exitCode, 0, c.stderr)
  const [addCall] = readSpyLog(log)
  t.match(addCall?.env, {CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web-0', CNI_CONTAINERID: 'ctr-1', CNI_IFNAME: 'net1'})
  t.same(addCall?.request.runtimeConfig, {portMappings: [{containerPort: 80, hostPort: 8080, protocol: 'tcp'}]})
})

t.test('spec violations are warnings naming the requirement', {skip}, async (t) => {
  const conf = writeConf(work, 'noisy.conflist', {
    ...fixtureConf('bridge.conflist'),
    plugins: [...fixtureConf('bridge.conflist').plugins, spy('', 'n', {noise: 'hello from the plugin\n'})],
  })
  const j = await add(['--conf', conf, '--cni-path', cniPath, '--rm', '--json'])
  t.equal(j.exitCode, 0, 'a warning does not fail the command')
  const env = JSON.parse(j.stdout) as Envelope
  t.match(env.warnings, [/^cnidbg-spy: stdout has text outside the JSON object: "hello from the plugin" \[P2, MUST\]$/])
  const h = await add(['--conf', conf, '--cni-path', cniPath, '--rm'])
  t.match(stripAnsi(h.stderr), /^Warning: cnidbg-spy: stdout has text outside the JSON object.*\[P2, MUST\]$/m)
})

t.test(
  'a result nested 20,000 levels deep is a failed ADD with a warning, not "This is a bug in cnidbg"',
  async (t) => {
    const conf = writeConf(work, 'deep.conflist', {cniVersion: '1.0.0', name: 'deep', plugins: [{type: 'cnidbg-deep'}]})
    // Was exit 70, INTERNAL, "Maximum call stack size exceeded", from writing the result to the cache.
    // Unreadable, it is no result, so the ADD failed, as libcni's (its decoder stops at 10,000 levels).
    const j = await add(['--conf', conf, '--cni-path', cniPath, 'auto', '--sandbox', '--rm', '--json'])
    t.equal(j.exitCode, 1, j.stderr)
    const env = JSON.parse(j.stdout) as Envelope
    t.match(env.result, {failure: /cnidbg-deep ADD exited 0 but printed no result object/, rolledBack: true})
    t.match(env.warnings, [
      /^cnidbg-deep: stdout has JSON nested deeper than \d+ levels, which cnidbg does not read: .*\[P2, MUST\]$/,
    ])
  },
)

t.test('a failing plugin: exit 1, rollback shown, envelope status 1', {skip}, async (t) => {
  const base = fixtureConf('bridge.conflist')
  const conf = writeConf(work, 'fail.conflist', {
    ...base,
    plugins: [...base.plugins, spy(join(work, 'fail.log'), 'f', {failOn: 'ADD'})],
  })
  const j = await add(['--conf', conf, '--cni-path', cniPath, '--rm', '--json'])
  t.equal(j.exitCode, 1)
  const env = JSON.parse(j.stdout) as Envelope
  t.match(env, {
    command: 'exec add',
    result: {failure: /spy f told to fail ADD/, ok: false, rolledBack: true},
    status: 1,
  })
  const h = await add(['--conf', conf, '--cni-path', cniPath, '--rm'])
  t.equal(h.exitCode, 1)
  t.equal(h.stdout, '', 'a failure goes to stderr')
  t.match(
    stripAnsi(h.stderr),
    /^✗ ADD cnidbg-t-bridge failed: cnidbg-spy ADD failed: code 7 \(invalid network config\)/m,
  )
  t.match(stripAnsi(h.stderr), /rollback DEL done/)
})

/** Results that are JSON objects but not the spec's shape (wrong types, entries that are not objects). */
const malformed = JSON.parse(readFileSync(join(FIXTURES, 'malformed-results.json'), 'utf8')) as unknown[]

t.test('a malformed result is warnings, never "This is a bug in cnidbg", in text and under --json', async (t) => {
  for (const [i, result] of malformed.entries()) {
    const print = JSON.stringify(result)
    const conf = writeConf(work, `malformed${i}.conflist`, {
      cniVersion: '1.0.0',
      name: 'malformed',
      plugins: [spy('', 'm', {print})],
    })
    // Spies only: they touch nothing, so they may run on this host with a cache dir of their own.
    const argv = (mode: string) => [
      ...['--conf', conf, '--cni-path', cniPath, '--netns', '/proc/self/ns/net', '--container-id', 'c1'],
      ...['--cache-dir', join(work, `malformed${i}-${mode}`)],
    ]
    const j = await add([...argv('json'), '--json'])
    t.equal(j.exitCode, 0, `--json ${print}: ${j.stderr}`)
    const env = JSON.parse(j.stdout) as Envelope
    t.equal(env.result?.ok, true, print)
    t.ok(env.warnings.length > 0, `${print}: ${env.warnings.join('; ')}`)
    const h = await add(argv('text'))
    t.equal(h.exitCode, 0, `text ${print}: ${h.stderr}`)
    t.match(stripAnsi(h.stdout), /^✓ ADD malformed /m, print)
  }
})

t.test('a malformed result mid-chain, then a failing plugin: exit 1 and the rollback DEL runs', async (t) => {
  for (const [i, result] of malformed.entries()) {
    for (const mode of ['json', 'text']) {
      const log = join(work, `midchain${i}-${mode}.log`)
      const conf = writeConf(work, `midchain${i}.conflist`, {
        cniVersion: '1.0.0',
        name: 'midchain',
        plugins: [spy(log, 'a', {print: JSON.stringify(result)}), spy(log, 'b', {failOn: 'ADD'})],
      })
      const c = await add([
        ...['--conf', conf, '--cni-path', cniPath, '--netns', '/proc/self/ns/net', '--container-id', 'c1'],
        ...['--cache-dir', join(work, `midchain${i}-${mode}`), ...(mode === 'json' ? ['--json'] : [])],
      ])
      const what = `${mode} ${JSON.stringify(result)}`
      t.equal(c.exitCode, 1, `${what}: ${c.stderr}`)
      if (mode === 'json')
        t.match(JSON.parse(c.stdout), {result: {failure: /spy b told to fail ADD/, rolledBack: true}})
      else t.match(stripAnsi(c.stderr), /rollback DEL done/, what)
      t.same(
        readSpyLog(log).map((l) => `${l.command} ${l.tag}`),
        ['ADD a', 'ADD b', 'DEL b', 'DEL a'],
        what,
      )
    }
  }
})

// [what, argv, exit code, error code]
const errors: Array<[string, string[], number, string]> = [
  ['malformed config', ['--conf', writeConf(work, 'bad.conflist', '{nope'), '--rm'], 2, 'INVALID_CONFIG'],
  [
    'missing plugin',
    [
      '--conf',
      writeConf(work, 'np.conflist', {cniVersion: '1.0.0', name: 'np', plugins: [{type: 'cnidbg-nope'}]}),
      '--rm',
    ],
    2,
    'PLUGIN_NOT_FOUND',
  ],
  ['missing netns', ['--conf', bridge, '/run/netns/cnidbg-h2-missing', '--sandbox'], 2, 'NETNS_NOT_FOUND'],
  ['bad ifname', ['--conf', bridge, '--rm', '--ifname', 'x/y'], 2, 'INVALID_IFNAME'],
  ['no network and no --conf', ['--rm'], 2, 'MISSING_NETWORK'],
]

t.test('errors: --json envelope with the code and exit status (2/3), no result', async (t) => {
  for (const [what, argv, exit, code] of errors) {
    const c = await add([...argv, '--cni-path', cniPath, '--json'])
    t.equal(c.exitCode, exit, `${what}: process.exitCode ${exit}`)
    const env = JSON.parse(c.stdout) as Envelope
    t.match(
      env,
      {
        command: 'exec add',
        error: {code, message: String, suggestions: Array},
        schemaVersion: 1,
        status: exit,
        warnings: [],
      },
      what,
    )
    t.notOk('result' in env, `${what}: no result`)
  }
})

t.test('errors for people: one line naming the problem, suggestions, no stack unless --debug', async (t) => {
  const c = await add(['--conf', join(work, 'bad.conflist'), '--rm'])
  t.equal(c.exitCode, 2)
  t.equal(c.stdout, '')
  const lines = stripAnsi(c.stderr).trim().split('\n')
  t.match(lines[0], /^Error: .*bad\.conflist: not valid JSON/)
  t.match(lines.slice(1), [/^ {2}→ Check the file with: jq \. /])
  t.notMatch(c.stderr, /\n\s+at /, 'no stack trace')
  const d = await add(['--conf', join(work, 'bad.conflist'), '--rm', '--debug'])
  t.equal(d.exitCode, 2)
  t.match(d.stderr, /\n\s+at .*conf\.(ts|js)/, '--debug shows the stack')
})

t.test('not root: exit 3 under --json too', async (t) => {
  const getuid = process.getuid
  process.getuid = () => 1000
  t.teardown(() => {
    process.getuid = getuid
  })
  const c = await add(['--conf', bridge, '--cni-path', cniPath, '--rm', '--json'])
  process.getuid = getuid
  t.equal(c.exitCode, 3)
  t.match(JSON.parse(c.stdout), {error: {code: 'NOT_ROOT'}, status: 3})
})

t.test('an unknown flag is a usage error (exit 2)', async (t) => {
  const c = await add(['--conf', bridge, '--bogus', '--json'])
  t.equal(c.exitCode, 2)
  t.match(JSON.parse(c.stdout), {command: 'exec add', status: 2})
})

t.test('--netns is the NETNS argument as a flag: auto, a path, and both only if they agree', {skip}, async (t) => {
  const auto = await add(['--conf', bridge, '--cni-path', cniPath, '--netns', 'auto', '--rm', '--json'])
  t.equal(auto.exitCode, 0, auto.stderr)
  t.match(JSON.parse(auto.stdout), {
    result: {ok: true, removed: true, attachment: {netns: /^\/run\/netns\/cnidbg-[0-9a-f]{6}-ctr$/}},
  })
  const missing = '/run/netns/cnidbg-polish-no-such-ns'
  for (const argv of [
    ['--netns', missing],
    [missing, '--netns', missing],
  ]) {
    const c = await add(['--conf', bridge, '--cni-path', cniPath, ...argv, '--json'])
    t.equal(c.exitCode, 2, argv.join(' '))
    t.match(JSON.parse(c.stdout), {error: {code: 'NETNS_NOT_FOUND', message: new RegExp(missing)}}, 'the flag names it')
  }
  const twice = await add(['--conf', bridge, '--cni-path', cniPath, 'auto', '--netns', missing, '--json'])
  t.equal(twice.exitCode, 2)
  t.match(JSON.parse(twice.stdout), {error: {code: 'NETNS_TWICE'}})
})

t.test('unknown flags and bad flag values: exit 2, code USAGE, one line and a suggestion', async (t) => {
  // [argv, message, a suggestion]
  const cases: Array<[string[], RegExp, RegExp]> = [
    [['--no-such-flag'], /^Nonexistent flag: --no-such-flag$/, /^See the flags and arguments: cnidbg exec add --help$/],
    [['--sandbx'], /^Nonexistent flag: --sandbx$/, /^Did you mean --sandbox\?$/],
    [['--timeout', 'abc'], /^Parsing --timeout: Expected an integer but received: abc$/, /--help$/],
    [['--timeout', '0'], /^Parsing --timeout: Expected an integer greater than or equal to 1/, /--help$/],
    [['--conf'], /^Flag --conf expects a value$/, /--help$/],
  ]
  for (const [argv, message, suggestion] of cases) {
    const j = await add([...argv, '--json'])
    t.equal(j.exitCode, 2, `${argv.join(' ')} --json: exit 2`)
    const env = JSON.parse(j.stdout) as Envelope
    t.match(env, {command: 'exec add', error: {code: 'USAGE', message}, status: 2}, argv.join(' '))
    t.ok(
      env.error?.suggestions.some((s) => suggestion.test(s)),
      `${argv.join(' ')}: ${env.error?.suggestions}`,
    )
    const h = await add(argv)
    t.equal(h.exitCode, 2, `${argv.join(' ')}: exit 2`)
    t.equal(h.stdout, '')
    const [first, ...rest] = stripAnsi(h.stderr).trimEnd().split('\n')
    t.match(first, new RegExp(`^Error: ${message.source.slice(1)}`), 'one line naming the problem')
    t.ok(rest.length > 0 && rest.every((l) => l.startsWith('  → ')), 'then only suggestions')
    t.notMatch(h.stderr, /This is a bug|\n\s+at /, 'not an internal error, no stack')
  }
})

t.test('--json with a ~20 MB config prints the whole envelope', async (t) => {
  const pad = 'y'.repeat(20_000_000)
  const conf = writeConf(work, 'big.conflist', {cniVersion: '1.0.0', name: 'big', plugins: [spy('', 'big', {pad})]})
  const c = await add(['--conf', conf, '--cni-path', cniPath, '--rm', '--json'])
  t.equal(c.exitCode, 0, c.stderr.slice(0, 2000))
  t.notMatch(c.stdout.slice(0, 2000), /RangeError/)
  const env = JSON.parse(c.stdout) as Envelope
  t.match(env, {command: 'exec add', result: {ok: true}, status: 0})
  t.ok(env.result?.invocations[0]?.stdin.includes(pad), 'the 20 MB config is in it, as sent to the plugin')
})

// The built CLI, as users run it. dist/ is built by `npm run build`; without it this is skipped.
const bin = join(ROOT, 'bin', 'run.js')
const built = existsSync(join(ROOT, 'dist', 'commands', 'exec', 'add.js'))
const noDist = built ? false : 'dist/ is not built: run `npm run build` first'

t.test('smoke: the built CLI does exec add --rm --json', {skip: skip || noDist}, async (t) => {
  const r = await run('node', [bin, 'exec', 'add', '--conf', bridge, '--cni-path', '/usr/lib/cni', '--rm', '--json'], {
    timeoutMs: 60_000,
  })
  t.equal(r.exitCode, 0, r.stderr)
  const env = JSON.parse(r.stdout) as Envelope
  t.match(env, {command: 'exec add', result: {ok: true, removed: true, verb: 'add'}, schemaVersion: 1, status: 0})
})

t.test('smoke: the built CLI exits 2 on bad config, with and without --json', {skip: noDist}, async (t) => {
  const conf = join(work, 'bad.conflist')
  const j = await run('node', [bin, 'exec', 'add', '--conf', conf, '--rm', '--json'], {timeoutMs: 60_000})
  t.equal(j.exitCode, 2, 'the real exit code survives --json')
  t.match(JSON.parse(j.stdout), {error: {code: 'INVALID_CONFIG'}, status: 2})
  const h = await run('node', [bin, 'exec', 'add', '--conf', conf, '--rm'], {timeoutMs: 60_000})
  t.equal(h.exitCode, 2)
  t.match(stripAnsi(h.stderr), /^Error: .*not valid JSON/)
  t.notMatch(h.stderr, /\n\s+at /)
})

t.test(
  'the printed check and del lines work as printed: same plugins, cache and args (built CLI)',
  {skip: noDist},
  async (t) => {
    const dir = join(work, "a dir's name")
    mkdirSync(dir)
    const log = join(work, 'next.log')
    const cacheDir = join(dir, 'cache')
    // cnidbg-spy is only in the fixtures' bin: a line without add's --cni-path finds no such plugin.
    const conf = writeConf(dir, 'next.conflist', {cniVersion: '1.0.0', name: 'next', plugins: [spy(log, 'n')]})
    const c = await add([
      ...['--conf', conf, '--cni-path', cniPath, '--cache-dir', cacheDir, '/proc/self/ns/net'],
      ...['--container-id', 'c1', '--args', 'K8S_POD_NAME=p;K8S_POD_NAMESPACE=$HOME', '--json'],
    ])
    t.equal(c.exitCode, 0, c.stderr)
    const next = (JSON.parse(c.stdout) as Envelope).result?.next ?? []
    t.equal(next.length, 2)
    for (const line of next) {
      t.match(line, /^cnidbg exec (check|del) /)
      const r = await run('sh', ['-c', line.replace(/^cnidbg /, `node ${bin} `)], {timeoutMs: 60_000})
      t.equal(r.exitCode, 0, `${line}: ${r.stderr}`)
    }
    const calls = readSpyLog(log)
    t.same(
      calls.map((l) => l.command),
      ['ADD', 'CHECK', 'DEL'],
    )
    for (const l of calls) t.equal(l.env.CNI_ARGS, 'K8S_POD_NAME=p;K8S_POD_NAMESPACE=$HOME', `${l.command} CNI_ARGS`)
    t.notOk(existsSync(join(cacheDir, 'results', 'next-c1-eth0')), 'the del removed the cache entry it was given')
  },
)

t.test(
  'a FIFO or a device among the configs: skipped when searching by name, refused as --conf (built CLI)',
  {skip: noDist},
  async (t) => {
    const dir = join(work, 'net.d')
    mkdirSync(dir)
    execFileSync('mkfifo', [join(dir, 'a.conflist')])
    symlinkSync('/dev/zero', join(dir, 'b.conflist'))
    writeFileSync(
      join(dir, 'c.conflist'),
      JSON.stringify({cniVersion: '1.0.0', name: 'mynet', plugins: [spy('', 'ok')]}),
    )
    // The timeouts only keep a regression from holding the suite: the FIFO used to block open(2) for good.
    const found = await run(
      'node',
      [bin, 'exec', 'add', 'mynet', '--netconf-path', dir, '--cni-path', cniPath, '--rm', '--json'],
      {timeoutMs: 60_000},
    )
    t.equal(found.timedOut, false, 'the search did not block on the FIFO')
    t.equal(found.exitCode, 0, found.stderr)
    t.match(JSON.parse(found.stdout), {result: {ok: true}, status: 0})
    const zero = await run('node', [bin, 'exec', 'add', '--conf', '/dev/zero', '--rm', '--json'], {timeoutMs: 60_000})
    t.equal(zero.timedOut, false, '/dev/zero is not read without end')
    t.match(JSON.parse(zero.stdout), {
      error: {code: 'CONFIG_NOT_FOUND', message: "Can't read config /dev/zero: not a regular file or a pipe"},
      status: 2,
    })
  },
)

t.test(
  "a plugin's escape sequences never reach the terminal; --json keeps them exact (built CLI)",
  {skip: noDist},
  async (t) => {
    const conf = writeConf(work, 'escapes.conflist', {
      cniVersion: '1.0.0',
      name: 'esc',
      plugins: [{type: 'cnidbg-escapes'}],
    })
    const argv = [bin, 'exec', 'add', '--conf', conf, '--cni-path', cniPath, '--rm']
    const human = await run('node', argv, {timeoutMs: 60_000})
    t.equal(human.exitCode, 1)
    // Without a TTY cnidbg prints no colour of its own: any ESC, BEL or CR would be the plugin's.
    // eslint-disable-next-line no-control-regex -- those characters are what this looks for
    t.notMatch(human.stdout + human.stderr, /[\u0007\u000d\u001b]/, 'no ESC, BEL or CR')
    t.match(human.stderr, /failed: cnidbg-escapes ADD failed: code 7 \(invalid network config\): bad ALL GOOD x\\x0d/)
    const json = await run('node', [...argv, '--json'], {timeoutMs: 60_000})
    const env = JSON.parse(json.stdout) as Envelope
    t.match(env.result?.error, {
      code: 7,
      msg: 'bad \u001b[2K\u001b[1A\u001b[32mALL GOOD\u001b[0m \u001b]52;c;aGVsbG8=\u0007 x\r',
    })
  },
)

/** Runs the built CLI with `input` on stdin (closed at once). */
const piped = (argv: string[], input: string | Buffer) =>
  new Promise<{code: number | null; stdout: string; stderr: string}>((resolve) => {
    const child = spawn('node', [bin, ...argv], {stdio: ['pipe', 'pipe', 'pipe']})
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => out.push(b))
    child.stderr.on('data', (b: Buffer) => err.push(b))
    child.on('close', (code) =>
      resolve({code, stderr: Buffer.concat(err).toString(), stdout: Buffer.concat(out).toString()}),
    )
    child.stdin.on('error', () => {})
    child.stdin.end(input)
  })

t.test('--conf - reads the config from stdin (the built CLI)', {skip: skip || noDist}, async (t) => {
  const r = await piped(
    ['exec', 'add', '--conf', '-', '--cni-path', '/usr/lib/cni', '--rm', '--json'],
    readFileSync(bridge),
  )
  t.equal(r.code, 0, r.stderr)
  t.match(JSON.parse(r.stdout), {result: {attachment: {network: 'cnidbg-t-bridge'}, ok: true, removed: true}})
})

t.test('a path piped in never becomes the netns positional', {skip: skip || noDist}, async (t) => {
  const name = `cnidbg-cli-piped-${process.pid}`
  await run('ip', ['netns', 'add', name])
  t.teardown(() => run('ip', ['netns', 'del', name]).then(() => {}))
  // --rm: on a CLI that filled NETNS from stdin, the ADD would go into /run/netns/<name> (in a sandbox).
  const r = await piped(
    ['exec', 'add', '--conf', bridge, '--cni-path', '/usr/lib/cni', '--rm', '--json'],
    `/run/netns/${name}\n`,
  )
  t.equal(r.code, 0, r.stderr)
  const netns = (JSON.parse(r.stdout) as Envelope).result?.attachment?.netns
  t.not(netns, `/run/netns/${name}`, 'the piped path was not used')
  t.match(netns, /^\/run\/netns\/cnidbg-[0-9a-f]{6}-ctr$/, 'a throwaway netns was')
  const links = await run('ip', ['-n', name, '-o', 'link', 'show'])
  t.same(
    links.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(':')[1]?.trim()),
    ['lo'],
    'nothing was added to it',
  )
  const noNetns = await piped(['exec', 'add', '--conf', bridge, '--json'], `/run/netns/${name}\n`)
  t.equal(noNetns.code, 2, 'without --rm it is the usual missing-NETNS usage error')
  t.match(JSON.parse(noNetns.stdout), {error: {code: 'MISSING_NETNS'}, status: 2})
})

t.test('--conf - with empty, binary or slow stdin: exit 2, one line, no stack', {skip: noDist}, async (t) => {
  const argv = ['exec', 'version', '--conf', '-', '--cni-path', '/usr/lib/cni']
  const cases: Array<[string, string | Buffer, string]> = [
    ['empty', '', 'STDIN_EMPTY'],
    ['NUL bytes', '{"cniVersion":"1.0.0"\0}', 'STDIN_BINARY'],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'STDIN_BINARY'],
  ]
  for (const [what, input, code] of cases) {
    const j = await piped([...argv, '--json'], input)
    t.equal(j.code, 2, `${what} --json: exit 2`)
    t.match(JSON.parse(j.stdout), {error: {code, message: /^--conf -: /}, status: 2}, what)
    const h = await piped(argv, input)
    t.equal(h.code, 2, `${what}: exit 2`)
    const lines = stripAnsi(h.stderr).trimEnd().split('\n')
    t.match(lines[0], /^Error: --conf -: stdin /, `${what}: one line`)
    t.ok(
      lines.slice(1).every((l) => l.startsWith('  → ')),
      `${what}: then only suggestions`,
    )
    t.notMatch(h.stderr, /This is a bug|\n\s+at /, `${what}: no stack`)
  }
  // A writer that never closes: the CLI gives up after CNIDBG_STDIN_TIMEOUT, the pipe still open.
  const child = spawn('node', [bin, ...argv], {
    env: {...process.env, CNIDBG_STDIN_TIMEOUT: '0.5'},
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  child.stdin.on('error', () => {})
  child.stdin.write('{"cniVersion": ')
  const err: Buffer[] = []
  child.stderr.on('data', (b: Buffer) => err.push(b))
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  child.stdin.destroy()
  t.equal(code, 2, 'slow: exit 2')
  const lines = stripAnsi(Buffer.concat(err).toString()).trimEnd().split('\n')
  t.match(lines[0], /^Error: --conf -: stdin did not end within 0\.5 s\.$/)
  t.notMatch(lines.join('\n'), /\n\s+at /)
})

t.test('the machine is as before', (t) => assertNothingLeft(t, before, tmp))
