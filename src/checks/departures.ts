import type {SpecVersion} from '../runtime/versions.js'

/**
 * Where Debian's plugins (the upstream Go plugins, containernetworking-plugins 1.1.1) depart from
 * the spec, each confirmed by a minimal reproduction with the plain binary (fixtures/README.md,
 * "Departures of Debian's plugins"). A check that finds one of these reports it as a warning decided
 * by `upstream-departure` rather than a failure: it is real, known, and not the suite's mistake.
 * Keyed by the plugin's `type`, the checklist requirement and the versions where it shows.
 */
export interface Departure {
  type: string
  requirement: string
  /**
   * The check that finds it, when any violation of that check by that plugin is this departure.
   * Without it, the check that finds it asks by requirement (a result with several problems).
   */
  check?: string
  /** Where it shows; every version when absent. */
  versions?: readonly SpecVersion[]
  what: string
}

export const DEPARTURES: readonly Departure[] = [
  {
    requirement: 'P27',
    type: 'loopback',
    versions: ['0.1.0', '0.2.0'],
    what: 'prints the 1.0.0 result layout (ips[], no ip4/ip6) under every version label',
  },
  {
    requirement: 'P48',
    type: 'loopback',
    versions: ['0.3.0', '0.3.1', '0.4.0'],
    what: 'the ips[] of a 0.3.x/0.4.0 result have no version',
  },
  {
    check: 'del.idempotent',
    requirement: 'P72',
    type: 'host-device',
    what: 'a second DEL fails: the device is back on the host, and DEL looks for it in the container',
  },
  {
    check: 'del.without-add',
    requirement: 'P73',
    type: 'host-device',
    what: 'DEL of an attachment that was never added fails: there is no CNI_IFNAME in the container to give back',
  },
  {
    check: 'del.netns-gone',
    requirement: 'P74',
    type: 'host-device',
    what: 'DEL fails when CNI_NETNS is gone (and the device went with the namespace)',
  },
  {
    check: 'del.interface-gone',
    requirement: 'P74',
    type: 'host-device',
    what: 'DEL fails when the container interface was deleted out of band',
  },
  {
    check: 'del.netns-gone',
    requirement: 'P74',
    type: 'tuning',
    what: "DEL when CNI_NETNS is gone does nothing, and leaves its backup of the link's settings in /run/cni/tuning",
  },
  {
    check: 'del.without-add',
    requirement: 'P73',
    type: 'sbr',
    what: 'DEL of an attachment that was never added fails: no CNI_IFNAME in the container',
  },
  {
    check: 'del.netns-gone',
    requirement: 'P74',
    type: 'sbr',
    what: 'DEL fails when CNI_NETNS is gone ("unknown FS magic"), and leaves an empty file at that path (its lock)',
  },
  {
    requirement: 'P114',
    type: 'host-local',
    what: 'takes both args.cni.ips and CNI_ARGS IP= and fails ADD ("failed to allocate all requested IPs") instead of ignoring CNI_ARGS',
  },
  {
    requirement: 'P80',
    type: 'ptp',
    what: "ptp's CHECK fails after sbr moved its routes to a table of their own: it looks for the gateway route in the main table",
  },
]

/** The known departure of plugin `type` that check `check` finds at `version`, if there is one. */
export function departureFoundBy(type: string, check: string, version: string): Departure | undefined {
  return DEPARTURES.find(
    (d) => d.type === type && d.check === check && (!d.versions || (d.versions as readonly string[]).includes(version)),
  )
}

/** The known departure of plugin `type` from `requirement` at `version`, if there is one. */
export function knownDeparture(type: string, requirement: string, version: string): Departure | undefined {
  return DEPARTURES.find(
    (d) =>
      d.type === type &&
      d.requirement === requirement &&
      (!d.versions || (d.versions as readonly string[]).includes(version)),
  )
}
