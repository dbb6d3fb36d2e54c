// A process that watches `sleep 1000` with watchLines, prints the watched program's pid and waits
// (test/process/watch.ts kills it with SIGKILL: no handler of ours runs, only the kernel's pdeathsig).
import {watchLines} from '../../src/process/watch.js'

const w = watchLines('sleep', ['1000'], {onLine: () => {}})
process.stdout.write(`${w.pid}\n`)
setInterval(() => {}, 60_000)
