import {ALL_SPEC_VERSIONS} from '../runtime/versions.js'
import {type Check, pass, SPEC, violation} from './check.js'

export const versionOutput: Check = {
  id: 'version.output',
  judgesSubjectOnly: true,
  perVersion: false,
  requirements: ['P23', 'P24', 'P25'],
  roles: ['interface', 'chained', 'ipam', 'loopback'],
  async run(env) {
    // Only CNI_COMMAND, as SPEC §VERSION requires; libcni's dummy variables would hide a plugin that needs them.
    const o = await env.raw({
      env: {
        CNI_ARGS: undefined,
        CNI_CONTAINERID: undefined,
        CNI_IFNAME: undefined,
        CNI_NETNS: undefined,
        CNI_PATH: undefined,
      },
      minimalEnv: true,
      request: {cniVersion: env.version},
      verb: 'VERSION',
    })
    if (!o.ok) return violation(`VERSION failed: ${o.failure}`, env.evidence())
    const v = (o.value ?? {}) as {cniVersion?: unknown; supportedVersions?: unknown}
    if (typeof v.cniVersion !== 'string' || !v.cniVersion)
      return violation('VERSION output has no cniVersion', env.evidence({observed: o.invocation.stdout}))
    if (
      !Array.isArray(v.supportedVersions) ||
      v.supportedVersions.length === 0 ||
      !v.supportedVersions.every((s) => typeof s === 'string' && /^\d+\.\d+\.\d+$/.test(s))
    )
      return violation(
        'supportedVersions is missing, empty or not a list of versions',
        env.evidence({observed: o.invocation.stdout}),
      )
    const unknown = (v.supportedVersions as string[]).filter(
      (s) => !(ALL_SPEC_VERSIONS as readonly string[]).includes(s),
    )
    if (unknown.length)
      return violation(
        `supportedVersions lists versions the spec does not define: ${unknown.join(', ')}`,
        env.evidence(),
        {severity: 'should'},
      )
    // SPEC §5 VERSION: cniVersion echoes the request; Go's skel always prints its library version (checklist §1.7 item 8).
    if (v.cniVersion !== env.version)
      return violation(`VERSION answered cniVersion ${v.cniVersion} to a ${env.version} request`, env.evidence(), {
        severity: 'should',
        upstreamDeparture: true,
      })
    return pass()
  },
  severity: 'must',
  spec: SPEC.versionSuccess,
  title: 'VERSION prints cniVersion and a non-empty supportedVersions list, with only CNI_COMMAND set',
}
