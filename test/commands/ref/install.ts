import {existsSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {run} from '../../../src/process/exec.js'
import {ROOT, stripAnsi} from '../../helpers/capture.js'
import {mocker} from '../../helpers/mocking.js'

const mockImport = await mocker(t, import.meta.url)

t.test('ref install passes its flags to the service and returns its result', async (t) => {
  let got: any
  const {default: RefInstall} = await mockImport<typeof import('../../../src/commands/ref/install.js')>(
    t,
    '../../../src/commands/ref/install.js',
    {
      '../../../src/services/ref.js': {
        ...(await import('../../../src/services/ref.js')),
        installRef: (o: any) => {
          got = o
          return {
            binDir: o.binDir,
            conflist: '/c/10-x.conflist',
            executables: ['/b/cnidbg-ref', '/b/cnidbg-ipam'],
            sea: false,
            config: {},
          }
        },
      },
    },
  )
  const result = await RefInstall.run([
    '--bin-dir',
    '/b',
    '--conf-dir',
    '/c',
    '--subnet',
    '10.244.1.0/24',
    '--mtu',
    '1450',
    '--name',
    'x',
    '--json',
  ])
  t.match(got, {binDir: '/b', confDir: '/c', subnet: '10.244.1.0/24', mtu: 1450, name: 'x', sea: false})
  t.match(result, {conflist: '/c/10-x.conflist'})
})

// Filesystem errors while installing: one line naming the flag and the reason, exit 2 (a path that
// can't be a directory) or 3 (this machine won't let us write there), never "This is a bug" (70).
const bin = join(ROOT, 'bin', 'run.js')
const noDist = existsSync(join(ROOT, 'dist', 'plugins', 'cnidbg-ref')) ? false : 'dist/ is not built'

t.test('a file in the way of --bin-dir: exit 2 (ENOTDIR), with and without --json', {skip: noDist}, async (t) => {
  const dir = t.testdir({file: 'x'})
  const argv = ['ref', 'install', '--bin-dir', join(dir, 'file', 'bin'), '--conf-dir', join(dir, 'net.d')]
  const j = await run('node', [bin, ...argv, '--subnet', '10.244.1.0/24', '--json'], {timeoutMs: 60_000})
  t.equal(j.exitCode, 2, j.stderr)
  t.match(JSON.parse(j.stdout), {
    error: {code: 'INSTALL_PATH', message: /^Can't install into --bin-dir .*: .*\(ENOTDIR\)\.$/, suggestions: Array},
    status: 2,
  })
  const h = await run('node', [bin, ...argv, '--subnet', '10.244.1.0/24'], {timeoutMs: 60_000})
  t.equal(h.exitCode, 2)
  t.match(stripAnsi(h.stderr), /^Error: Can't install into --bin-dir [^\n]*\(ENOTDIR\)\.\n/)
  t.notMatch(h.stderr, /This is a bug|\n\s+at /)
})

t.test('a --bin-dir under /proc, where no dir can be made: exit 2 (ENOENT), promptly', {skip: noDist}, async (t) => {
  // Node's recursive mkdir spun for good on such a path, deaf to signals: the timeout SIGKILLs it then.
  const argv = ['ref', 'install', '--bin-dir', '/proc/nope', '--conf-dir', join(t.testdir(), 'net.d')]
  const j = await run('node', [bin, ...argv, '--subnet', '10.244.1.0/24', '--json'], {timeoutMs: 60_000})
  t.notOk(j.timedOut, 'ended by itself')
  t.equal(j.exitCode, 2, j.stderr)
  t.match(JSON.parse(j.stdout), {
    error: {code: 'INSTALL_PATH', message: /^Can't install into --bin-dir \/proc\/nope: .*\(ENOENT\)\.$/},
    status: 2,
  })
})

t.test('a read-only --bin-dir or --conf-dir: exit 3 (EROFS)', {skip: noDist}, async (t) => {
  const dir = t.testdir({ro: {}, rw: {}})
  const ro = join(dir, 'ro')
  // The read-only mount exists only in a private mount namespace that ends with the command.
  const inRo = (...argv: string[]) =>
    run(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        'mount -t tmpfs -o ro tmpfs "$1" && shift && exec "$@"',
        'sh',
        ro,
        'node',
        bin,
        'ref',
        'install',
        '--subnet',
        '10.244.1.0/24',
        ...argv,
      ],
      {timeoutMs: 60_000},
    )
  const cases: Array<[string, string[], string]> = [
    ['the dir itself', ['--bin-dir', ro, '--conf-dir', join(dir, 'rw')], '--bin-dir'],
    ['a dir to create in it', ['--bin-dir', join(ro, 'bin'), '--conf-dir', join(dir, 'rw')], '--bin-dir'],
    ['the conf dir', ['--bin-dir', join(dir, 'rw'), '--conf-dir', join(ro, 'net.d')], '--conf-dir'],
  ]
  for (const [what, argv, flag] of cases) {
    const j = await inRo(...argv, '--json')
    t.equal(j.exitCode, 3, `${what}: ${j.stderr}`)
    t.match(
      JSON.parse(j.stdout),
      {
        error: {code: 'INSTALL_NOT_WRITABLE', message: new RegExp(`^Can't install into ${flag} .*\\(EROFS\\)\\.$`)},
        status: 3,
      },
      what,
    )
    const h = await inRo(...argv)
    t.equal(h.exitCode, 3, what)
    t.match(stripAnsi(h.stderr), /^Error: Can't install into [^\n]*read-only file system \(EROFS\)\.\n/, what)
    t.notMatch(h.stderr, /This is a bug|\n\s+at /, what)
  }
})
