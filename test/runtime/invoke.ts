import t from 'tap'

import type {RunOptions, RunResult} from '../../src/process/exec.js'
import {describeError, invokePlugin, type Executor} from '../../src/runtime/invoke.js'

/** A fake plugin process: records how it was started and answers with `r`. */
function fake(r: Partial<RunResult>): Executor & {calls: Array<{file: string; opts: RunOptions}>} {
  const calls: Array<{file: string; opts: RunOptions}> = []
  const exec = (async (file: string, args: readonly string[], opts: RunOptions) => {
    calls.push({file, opts})
    return {
      args: [...args],
      command: file,
      durationMs: 5,
      exitCode: 0,
      outputLimitExceeded: false,
      signal: null,
      stderr: '',
      stdout: '',
      timedOut: false,
      ...r,
    }
  }) as Executor & {calls: typeof calls}
  exec.calls = calls
  return exec
}

const call = (executor: Executor, over = {}) =>
  invokePlugin({
    env: {CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0', CNI_NETNS: '/run/netns/x', CNI_PATH: '/opt/cni/bin'},
    executor,
    path: '/opt/cni/bin/bridge',
    request: {cniVersion: '1.0.0', name: 'n', type: 'bridge'},
    timeoutMs: 5000,
    verb: 'ADD',
    ...over,
  })

t.test('SPEC §2: CNI_COMMAND and the CNI_* variables, config on stdin, our timeout', async (t) => {
  const ex = fake({stdout: '{"cniVersion":"1.0.0"}'})
  const o = await call(ex)
  t.equal(o.ok, true)
  t.same(o.value, {cniVersion: '1.0.0'})
  const {opts} = ex.calls[0]!
  t.match(opts.env, {
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: 'c1',
    CNI_IFNAME: 'eth0',
    CNI_NETNS: '/run/netns/x',
    CNI_PATH: '/opt/cni/bin',
  })
  t.equal(opts.extendEnv, true, 'R12: libcni passes its whole environment')
  t.same(JSON.parse(opts.input!), {cniVersion: '1.0.0', name: 'n', type: 'bridge'})
  t.equal(opts.timeoutMs, 5000)
  t.equal(o.invocation.plugin, 'bridge')
  t.equal(o.invocation.env.CNI_COMMAND, 'ADD')
})

t.test('minimalEnv: only CNI_* and PATH', async (t) => {
  const ex = fake({stdout: '{}'})
  await call(ex, {minimalEnv: true})
  t.equal(ex.calls[0]!.opts.extendEnv, false)
  t.ok(ex.calls[0]!.opts.env?.PATH)
})

t.test('a string request is sent verbatim', async (t) => {
  const ex = fake({})
  await call(ex, {request: '{broken', verb: 'DEL'})
  t.equal(ex.calls[0]!.opts.input, '{broken')
})

t.test('failures, worded like libcni (R33)', async (t) => {
  const err = await call(fake({exitCode: 1, stdout: '{"code":7,"msg":"bad config","details":"no bridge"}'}))
  t.equal(err.ok, false)
  t.equal(err.failure, 'bridge ADD failed: code 7 (invalid network config): bad config; no bridge')
  t.same(err.error, {code: 7, details: 'no bridge', msg: 'bad config'})
  const plain = await call(fake({exitCode: 1, stderr: 'panic: boom\n'}))
  t.equal(plain.failure, 'bridge ADD failed (exit 1): "panic: boom"')
  t.match(plain.problems, [{requirement: 'P3'}])
  const silent = await call(fake({exitCode: 2}))
  t.equal(silent.failure, 'bridge ADD failed (exit 2): no error message')
  const garbage = await call(fake({exitCode: 1, stdout: 'not json'}))
  t.match(garbage.failure, /unparseable output "not json"/)
  const killed = await call(fake({exitCode: null, signal: 'SIGSEGV'}))
  t.match(killed.failure, /killed by SIGSEGV/)
})

t.test('exit 0 with an error object is a failure (P1)', async (t) => {
  const o = await call(fake({stdout: '{"code":11,"msg":"try later"}'}))
  t.equal(o.ok, false)
  t.match(o.failure, /exited 0 but printed an error: code 11 \(try again later\): try later/)
  t.match(o.problems, [{requirement: 'P1', severity: 'must'}])
})

t.test('timeout, flood and spawn errors', async (t) => {
  const to = await call(fake({exitCode: null, signal: 'SIGKILL', timedOut: true}))
  t.equal(to.failure, 'bridge ADD timed out after 5s; its process group was killed')
  const big = 'x'.repeat(100_000)
  const flood = await call(fake({outputLimitExceeded: true, stdout: big}))
  t.match(flood.failure, /printed more than 16 MiB; it was killed and its output cut off/)
  t.match(flood.problems, [{requirement: 'P2', severity: 'must'}])
  t.ok(flood.invocation.stdout.length < 5000, 'only the start of a flood is kept')
  t.match(flood.invocation.stdout, /…\[95904 more characters cut\]$/)
  const sp = await call(fake({exitCode: null, spawnError: 'spawn /opt/cni/bin/bridge EACCES'}))
  t.equal(sp.failure, "can't run /opt/cni/bin/bridge: spawn /opt/cni/bin/bridge EACCES")
})

t.test('describeError names well-known codes', async (t) => {
  t.equal(describeError({code: 3, msg: 'gone'}), 'code 3 (container unknown or does not exist): gone')
  t.equal(describeError({code: 123, msg: 'custom'}), 'code 123: custom')
})
