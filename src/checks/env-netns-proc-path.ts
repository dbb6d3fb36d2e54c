import {run, runInNetns} from '../netns/index.js'
import {type Check, pass, SPEC, skip, violation} from './check.js'
import {missingAttachment} from './kernel.js'

export const envNetnsProcPath: Check = {
  id: 'env.netns-proc-path',
  perVersion: false,
  requirements: ['P13'],
  roles: ['interface', 'chained', 'loopback'],
  async run(env) {
    const ctr = await env.netns()
    // A process living in the namespace gives the /proc/<pid>/ns/net form runtimes also pass. It lives
    // until this check kills it: on a loaded node the plugin's ADD and DEL can outlast any short sleep,
    // and the path must name the namespace until DEL is done. The timeout only bounds a holder that
    // nothing killed.
    const holder = runInNetns({name: ctr.name}, 'sleep', ['600'], {timeoutMs: 600_000, sysfs: true})
    let held = true
    void holder.finally(() => (held = false))
    let pid: number | undefined
    for (let i = 0; i < 250 && !pid && held; i++) {
      await new Promise((r) => setTimeout(r, 20))
      const ps = await run('ip', ['netns', 'pids', ctr.name])
      pid = Number(ps.stdout.trim().split('\n')[0]) || undefined
    }
    if (!pid) return skip('could not start a process in the container netns')
    try {
      const rt = env.rt(`/proc/${pid}/ns/net`)
      const add = await env.add(rt)
      const missing = await missingAttachment(env, env.ifnameOf(rt), ctr)
      await env.del(rt)
      if (!held) return skip(`the process holding the namespace (pid ${pid}) exited before DEL was done`)
      if (!add.ok)
        return violation(`ADD with CNI_NETNS=/proc/${pid}/ns/net failed: ${add.failure}`, env.evidence(), {
          severity: 'should',
        })
      if (missing)
        return violation(`ADD via /proc/${pid}/ns/net, in that namespace: ${missing}`, env.evidence(), {
          severity: 'should',
        })
      return pass()
    } finally {
      // Only while it runs: once it has exited, its pid may be another process's.
      if (held) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // It exited just now.
        }
      }
      await holder
    }
  },
  severity: 'should',
  spec: SPEC.parameters,
  title: 'CNI_NETNS given as /proc/<pid>/ns/net works like a /run/netns path',
}
