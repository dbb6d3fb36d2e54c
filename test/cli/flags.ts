/**
 * Seconds-valued flags are bounded by what a Node timer takes: past 2^31-1 ms, setTimeout fires
 * after 1 ms, so `--timeout 3000000` would kill every plugin call at once and blame the plugin.
 */
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {MAX_TIMER_SECONDS} from '../../src/cli/flags.js'
import ExecAdd from '../../src/commands/exec/add.js'
import {ROOT, runCommand} from '../helpers/capture.js'

/** The flags that are seconds handed to a timer, by command id. */
const SECONDS: Record<string, string[]> = {
  agent: ['auth-cache'],
  conformance: ['timeout'],
  'exec:add': ['timeout'],
  'exec:check': ['timeout'],
  'exec:del': ['timeout'],
  'exec:gc': ['timeout'],
  'exec:invoke': ['timeout'],
  'exec:status': ['timeout'],
  'exec:version': ['timeout'],
  'lab:pod:add': ['timeout'],
  'lab:pod:rm': ['timeout'],
  'lab:up': ['timeout'],
  'ref:daemon': ['resync', 'interval', 'once-timeout'],
  trace: ['agent-timeout'],
}

t.test('the bound is the largest whole number of seconds a timer takes', async (t) => {
  t.equal(MAX_TIMER_SECONDS, 2_147_483)
  t.ok(MAX_TIMER_SECONDS * 1000 <= 2 ** 31 - 1)
  t.ok((MAX_TIMER_SECONDS + 1) * 1000 > 2 ** 31 - 1)
})

t.test('every seconds-valued integer flag has a max a timer takes', async (t) => {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'oclif.manifest.json'), 'utf8')) as {
    commands: Record<string, {flags: Record<string, {type: string; summary?: string}>}>
  }
  // A new flag said to be in seconds must be listed above (and bounded).
  for (const [id, c] of Object.entries(manifest.commands))
    for (const [name, f] of Object.entries(c.flags))
      if (f.type === 'option' && /\bseconds\b/i.test(f.summary ?? '') && !/CNIDBG_STDIN_TIMEOUT/.test(f.summary ?? ''))
        t.ok(SECONDS[id]?.includes(name), `${id} --${name} is listed`)
  for (const [id, names] of Object.entries(SECONDS)) {
    const mod = (await import(`../../src/commands/${id.replaceAll(':', '/')}.js`)) as {
      default: {flags: Record<string, {max?: number; type: string}>}
    }
    for (const name of names) {
      const flag = mod.default.flags[name]
      t.ok(flag, `${id} --${name} exists`)
      t.ok(flag?.max !== undefined && flag.max <= MAX_TIMER_SECONDS, `${id} --${name} max ${flag?.max}`)
    }
  }
})

t.test('a --timeout past the bound is a usage error (exit 2), before anything runs', async (t) => {
  const c = await runCommand(ExecAdd, 'exec:add', ['--conf', '/nonexistent.conflist', '--timeout', '2147484', '--json'])
  t.equal(c.exitCode, 2, c.stderr)
  t.match(JSON.parse(c.stdout), {error: {code: 'USAGE', message: /--timeout.*2147483/}, status: 2})
})
