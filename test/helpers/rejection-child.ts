// For test/core/http.ts: a process set up like the long-running entry points, in which a promise
// is rejected with nobody awaiting it. It must log that and carry on to print "still alive".
import {surviveUnhandledRejections} from '../../src/core/http.js'

surviveUnhandledRejections((line) => process.stderr.write(`${line}\n`))
void Promise.reject(new Error('a stray rejection'))
setTimeout(() => process.stdout.write('still alive\n'), 100)
