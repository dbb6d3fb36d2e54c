import {appendFileSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {
  appendSpyLog,
  clearSpyLog,
  createSpy,
  readSpyControl,
  readSpyLog,
  spyCalls,
  type SpyLogEntry,
} from '../../../src/checks/spy/control.js'

const dir = mkdtempSync('/tmp/cnidbgtest-spyctl-')
t.teardown(() => rmSync(dir, {recursive: true, force: true}))

const entry = (command: string, label = 'ipam'): SpyLogEntry => ({
  time: new Date(0).toISOString(),
  pid: 1,
  label,
  plugin: 'cnidbg-spy',
  command,
  env: {CNI_COMMAND: command},
  stdin: '{}',
  config: {},
  controlFrom: 'config',
  reply: {exitCode: 0, stdout: '', stderr: ''},
})

t.test('createSpy writes a control next to its log and says how to reach it', async (t) => {
  const s = createSpy(join(dir, 'nested'), 'ipam', {
    versions: ['1.0.0'],
    verbs: {DEL: {error: {code: 11, msg: 'later'}}},
  })
  t.equal(s.control, join(dir, 'nested', 'ipam.control.json'))
  t.equal(s.log, join(dir, 'nested', 'ipam.log.jsonl'))
  t.same(readSpyControl(s.control), {versions: ['1.0.0'], verbs: {DEL: {error: {code: 11, msg: 'later'}}}, log: s.log})
  t.same(s.configKey, {spy: {control: s.control}})
  t.equal(s.cniArg, `CNIDBG_SPY=${s.control}`)
  t.same(readSpyLog(s.log), [], 'no log yet: no calls')
})

t.test('the log round-trips, filters by verb and label, and skips a torn line', async (t) => {
  const log = join(dir, 'round.jsonl')
  appendSpyLog(log, entry('ADD'))
  appendSpyLog(log, entry('ADD', 'chain-0'))
  appendSpyLog(log, entry('DEL'))
  appendFileSync(log, '{"time":"2024')
  t.same(
    readSpyLog(log).map((e) => `${e.label}:${e.command}`),
    ['ipam:ADD', 'chain-0:ADD', 'ipam:DEL'],
  )
  t.equal(spyCalls(log, 'ADD').length, 2)
  t.equal(spyCalls(log, 'ADD', 'chain-0').length, 1)
  t.equal(spyCalls(log, 'CHECK').length, 0)
  clearSpyLog(log)
  t.equal(readFileSync(log, 'utf8'), '')
  t.same(readSpyLog(log), [])
})
