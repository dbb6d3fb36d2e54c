// SIGINT during `lab up` leaves nothing: run lab up in a child process, interrupt it once it has
// namespaces, an API server, a supervisor and pods being set up, then check every trace is gone.
import {existsSync} from 'node:fs'
import {dirname, join} from 'node:path'
import t from 'tap'

import {labDown} from '../../src/lab/down.js'
import {labDir, labNetnsPrefix} from '../../src/lab/names.js'
import {nodePodProcesses} from '../../src/lab/node-pods.js'
import {procAlive, readLabState, type LabState} from '../../src/lab/state.js'
import {run} from '../../src/process/exec.js'
import {listNetns} from '../../src/netns/netns.js'
import {bundleLabLibexec, REPO, testLabName} from '../helpers/lab.js'
import {eventually, rootLinks} from '../helpers/machine.js'

t.setTimeout(1_200_000)

t.test('Ctrl-C during lab up removes everything it made', async (t) => {
  const name = testLabName()
  t.teardown(async () => {
    await labDown({name}).catch(() => undefined)
  })
  const linksBefore = await rootLinks()
  const libexec = await bundleLabLibexec({'lab-up-child': 'test/helpers/lab-up-child.ts'})
  const dir = dirname(libexec.supervisor)
  const child = run(process.execPath, [join(dir, 'lab-up-child.mjs'), name, dir, REPO], {
    env: {PATH: process.env.PATH},
    extendEnv: false,
    timeoutMs: 900_000,
  })
  // Interrupt once the supervisor runs and a pod namespace exists (a kubelet is mid-way through ADDs).
  let seen: LabState | undefined
  const midway = await eventually(() => {
    const s = readLabState(name)
    if (
      s &&
      procAlive(s.supervisor) &&
      listNetns().some((n) => n.startsWith(`${labNetnsPrefix(name)}node`) && n.includes('-pod-'))
    )
      seen = s
    return Boolean(seen)
  }, 600_000)
  t.ok(midway, 'lab up got to the pods')
  // deploy/'s pods on the nodes are running by now (they are ready before pods are made).
  const nodeProcs = seen ? seen.nodes.flatMap((n) => nodePodProcesses(n)) : []
  t.ok(seen && procAlive(seen.owner), 'lab up is still running')
  process.kill(seen!.owner!.pid, 'SIGINT')
  const r = await child
  t.equal(r.exitCode, 130, 'exits 130 after cleaning up')
  t.match(r.stderr, /SIGINT received, cleaning up/)
  t.notOk(procAlive(seen!.apiserver), 'API server stopped')
  t.notOk(procAlive(seen!.supervisor), 'supervisor stopped')
  t.ok(nodeProcs.length > 0, 'node processes ran')
  t.notOk(
    nodeProcs.some((p) => procAlive(p)),
    'node processes stopped',
  )
  t.same(
    listNetns().filter((n) => n.startsWith(labNetnsPrefix(name))),
    [],
    'no lab namespace left',
  )
  t.notOk(existsSync(labDir(name)), 'state dir removed')
  t.same(await rootLinks(), linksBefore, 'root links as before')
})
