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
]

/** The known departure of plugin `type` from `requirement` at `version`, if there is one. */
export function knownDeparture(type: string, requirement: string, version: string): Departure | undefined {
  return DEPARTURES.find(
    (d) =>
      d.type === type &&
      d.requirement === requirement &&
      (!d.versions || (d.versions as readonly string[]).includes(version)),
  )
}
