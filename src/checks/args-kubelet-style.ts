import {type Check, pass, SPEC, violation} from './check.js'

export const argsKubeletStyle: Check = {
  id: 'args.kubelet-style',
  perVersion: false,
  requirements: ['P14', 'P113', 'P115'],
  roles: ['interface', 'chained', 'ipam', 'loopback'],
  async run(env) {
    const ctr = await env.netns()
    // What kubelet/containerd actually send (CONVENTIONS CNI_ARGS); Go's LoadArgs needs IgnoreUnknown for the rest.
    const rt = env.rt(ctr, {
      args: [
        ['IgnoreUnknown', '1'],
        ['K8S_POD_NAMESPACE', 'default'],
        ['K8S_POD_NAME', 'web-0'],
        ['K8S_POD_INFRA_CONTAINER_ID', 'abc123'],
        ['K8S_POD_UID', '3f2a9c1e-0000-4000-8000-000000000001'],
      ],
    })
    const add = await env.add(rt)
    await env.del(rt)
    if (!add.ok)
      return violation(`ADD with kubelet-style CNI_ARGS failed: ${add.failure}`, env.evidence(), {severity: 'should'})
    return pass()
  },
  severity: 'should',
  spec: SPEC.cniArgs,
  title: 'Kubelet-style CNI_ARGS (IgnoreUnknown=1;K8S_POD_NAME=…) are accepted',
}
