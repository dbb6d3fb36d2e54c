// The demo service on a machine that already runs a lab of the demo's name: labUp refuses it
// (LAB_EXISTS), and the demo must leave that lab alone. The lab here is a state file whose API server
// and supervisor are two `sleep`s, held for this process like a test lab, so nothing is built.
import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync, mkdirSync} from 'node:fs'

import t from 'tap'

import {demo, type DemoView} from '../../src/services/demo.js'
import {labDir} from '../../src/lab/names.js'
import {procAlive, procRef, readLabState, writeLabState} from '../../src/lab/state.js'
import {standInLabState, testLabName} from '../helpers/lab.js'
import {cnidbgError} from '../helpers/errors.js'

const view: DemoView = {
  section: () => {},
  labSteps: () => ({stop: () => {}}),
  labUp: () => {},
  conformance: () => ({stop: async () => {}, mode: 'plain'}),
  conformanceDone: () => {},
  faultApplied: () => {},
  traced: () => {},
}

t.test('demo --name X with a lab X running: LAB_EXISTS, and that lab is still there', async (t) => {
  const name = testLabName()
  const dir = labDir(name)
  const sleeps: ChildProcess[] = [0, 1].map(() => spawn('sleep', ['600'], {stdio: 'ignore'}))
  t.teardown(async () => {
    for (const s of sleeps) s.kill('SIGKILL')
    const {labDown} = await import('../../src/lab/down.js')
    await labDown({name}).catch(() => undefined)
  })
  const [api, sup] = sleeps.map((s) => procRef(s.pid!))
  mkdirSync(dir, {recursive: true, mode: 0o700})
  const state = standInLabState(name, {apiserver: api, supervisor: sup, podsPerNode: 2})
  writeLabState(state)

  await t.rejects(demo({name, mode: 'vxlan', nodes: 3, view}), cnidbgError('LAB_EXISTS'))
  t.ok(existsSync(dir), "the lab's directory is still there")
  t.equal(readLabState(name)?.phase, 'running', 'and its state')
  t.ok(procAlive(api) && procAlive(sup), 'its API server and supervisor still run')
})
