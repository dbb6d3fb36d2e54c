import {run, runInNetns} from '../netns/index.js'
import {type Check, pass, SPEC, skip, violation} from './check.js'

export const envNetnsProcPath: Check = {
  id: 'env.netns-proc-path',
  perVersion: false,
  requirements: ['P13'],
  roles: ['interface', 'chained'],
  async run(env) {
    const ctr = await env.netns()
    // A process living in the namespace gives the /proc/<pid>/ns/net form runtimes also pass.
    const holder = runInNetns({name: ctr.name}, 'sleep', ['30'], {timeoutMs: 30_000, sysfs: true})
    let pid: number | undefined
    for (let i = 0; i < 50 && !pid; i++) {
      await new Promise((r) => setTimeout(r, 20))
      const ps = await run('ip', ['netns', 'pids', ctr.name])
      pid = Number(ps.stdout.trim().split('\n')[0]) || undefined
    }
    if (!pid) return skip('could not start a process in the container netns')
    try {
      const rt = env.rt(`/proc/${pid}/ns/net`)
      const add = await env.add(rt)
      const links = await env.ipJson<Array<{ifname: string}>>(['link', 'show'], ctr)
      await env.del(rt)
      if (!add.ok)
        return violation(`ADD with CNI_NETNS=/proc/${pid}/ns/net failed: ${add.failure}`, env.evidence(), {
          severity: 'should',
        })
      if (!links.some((l) => l.ifname === rt.ifname))
        return violation(`ADD via /proc/${pid}/ns/net did not create ${rt.ifname} in that namespace`, env.evidence(), {
          severity: 'should',
        })
      return pass()
    } finally {
      process.kill(pid, 'SIGKILL')
      await holder
    }
  },
  severity: 'should',
  spec: SPEC.parameters,
  title: 'CNI_NETNS given as /proc/<pid>/ns/net works like a /run/netns path',
}
