// Loaded into every test process by bench/suite-cpu.mjs (a tap node-arg), never by a normal test run:
// moves the test process into a cgroup of its own, named after its test file, under the directory
// CNIDBG_SUITE_CGROUP names. Every process the test starts (plugins, lab programs, `ip`, the CLI) is
// born in that cgroup and counts toward it, so the bench can say what each file costs in all.
import {mkdirSync, writeFileSync} from 'node:fs'
import {join, relative} from 'node:path'

const parent = process.env.CNIDBG_SUITE_CGROUP
const file = process.argv[1]
if (parent && file) {
  const name = relative(process.cwd(), file).replace(/\//g, '__')
  if (name.startsWith('test__')) {
    try {
      const dir = join(parent, name)
      mkdirSync(dir, {recursive: true})
      writeFileSync(join(dir, 'cgroup.procs'), String(process.pid))
    } catch (error) {
      console.error(`# suite-cpu: cannot account ${name}: ${error.message}`)
    }
  }
}
