import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {watchLines} from '../../src/process/watch.js'
import {alive, eventually} from '../helpers/machine.js'
import {bundleEntries, child} from '../helpers/raw-http.js'

/** The first value `fn` gives that is not undefined, within a minute. */
async function waitFor<T>(what: string, fn: () => T | undefined): Promise<T> {
  const end = Date.now() + 60_000
  for (;;) {
    const v = fn()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`no ${what} within 60 s`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const cmdline = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
  } catch {
    return ''
  }
}

/** Starts a watcher and collects what it reports; `ended` settles with onExit's reason. */
function collect(file: string, args: string[], maxLineChars?: number) {
  const lines: string[] = []
  let stderr = ''
  let exitWhy: string | undefined
  let ended!: (why: string) => void
  const done = new Promise<string>((r) => (ended = r))
  const w = watchLines(file, args, {
    onLine: (l) => lines.push(l),
    onStderr: (s) => (stderr += s),
    onExit: (why) => {
      exitWhy = why
      ended(why)
    },
    maxLineChars,
  })
  return {w, lines, done, stderr: () => stderr, exitWhy: () => exitWhy}
}

t.test('hands on each line as it comes, then reports the exit with its stderr', async (t) => {
  const c = collect('sh', ['-c', 'printf "one\\ntw"; sleep 0.1; printf "o\\nthree\\n"; echo bad >&2; exit 3'])
  const why = await c.done
  t.same(c.lines, ['one', 'two', 'three'], 'lines split across writes are put back together')
  t.equal(c.stderr(), 'bad\n')
  t.match(why, /^sh exited \(3\): bad$/)
})

t.test('a line longer than maxLineChars is cut, and one with no end is handed on in pieces', async (t) => {
  const c = collect('sh', ['-c', 'printf "%0100d\\nshort\\n" 0; printf "%0250d" 0; sleep 0.2; exit 0'], 80)
  await c.done
  t.equal(c.lines[0], '0'.repeat(80))
  t.equal(c.lines[1], 'short')
  t.ok(
    c.lines.slice(2).every((l) => l.length <= 80),
    'the endless line never grew past the cap',
  )
})

t.test('a program that cannot run is reported, not thrown', async (t) => {
  const c = collect('/nonexistent/cnidbg-watch-test', [])
  t.match(await c.done, /exited \(\d+\).*nonexistent/)
})

t.test('stop() kills the whole process group and reports no exit', async (t) => {
  const c = collect('sh', ['-c', 'sleep 1000 & echo $!; wait'])
  const bg = await waitFor('background pid', () => (c.lines.length > 0 ? Number(c.lines[0]) : undefined))
  t.ok(alive(bg), 'the watched program’s own child runs')
  await c.w.stop()
  t.ok(await eventually(() => !alive(bg)), 'its child is gone too')
  t.equal(c.exitWhy(), undefined, 'no onExit after stop()')
})

t.test('the watched program dies with the process that watches it, even on SIGKILL', async (t) => {
  const dir = await bundleEntries({'watch-child': 'test/helpers/watch-child.ts'})
  const c = child(t, join(dir, 'watch-child.mjs'), [])
  const pid = await waitFor('watcher pid', () => Number(c.output().split('\n')[0]) || undefined)
  // Should the kernel not kill it, the test fails, and leaves no sleep behind either.
  t.teardown(() => {
    if (alive(pid) && cmdline(pid).startsWith('sleep')) process.kill(pid, 'SIGKILL')
  })
  // The watcher starts as setpriv, which execs the program: the pid is sleep's once that exec is done.
  await waitFor('sleep', () => (cmdline(pid).startsWith('sleep') ? true : undefined))
  c.proc.kill('SIGKILL')
  await c.exited
  t.ok(await eventually(() => !alive(pid)), 'killed by the kernel (pdeathsig): no handler of ours ran')
})
