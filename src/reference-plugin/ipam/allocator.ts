import {CniError, CODE} from '../errors.js'
import {formatCIDR, formatIP, parseIP, type Addr} from '../../core/ip.js'
import type {Attachment, IPConfig} from '../types.js'
import type {IpamConf} from './config.js'
import {candidates, capacity, isReservedIn, setContains, type Range, type RangeSet} from './range.js'
import type {Store} from './store.js'

export interface Allocation {
  ip: Addr
  range: Range
  rangeSet: number
}

const describeSet = (set: RangeSet): string => set.map((r) => formatCIDR(r.subnet)).join(',')
const rangeOf = (set: RangeSet, a: Addr): Range => set.find((r) => a.value >= r.start && a.value <= r.end)!

/** Which range set each requested address belongs to; every address must fit exactly one set. */
function placeRequested(conf: IpamConf): Map<number, Addr> {
  const placed = new Map<number, Addr>()
  for (const a of conf.requested) {
    const i = conf.rangeSets.findIndex((s) => setContains(s, a))
    if (i < 0 || isReservedIn(conf.rangeSets[i]!, a)) {
      throw new CniError(
        CODE.REQUESTED_IP_UNAVAILABLE,
        `requested IP ${formatIP(a)} (${conf.requestedFrom}) is ${i < 0 ? 'outside every configured range' : 'a reserved address (gateway, network or broadcast)'}`,
        `the ranges are ${conf.rangeSets.map(describeSet).join(' and ')}`,
      )
    }
    if (placed.has(i)) {
      throw new CniError(
        CODE.INVALID_CONFIG,
        `${conf.requestedFrom} asks for two addresses in ${describeSet(conf.rangeSets[i]!)}`,
      )
    }
    placed.set(i, a)
  }
  return placed
}

/**
 * Allocates one address per range set for `owner` (host-local's allocator): requested addresses as
 * asked, the rest round-robin after the last reservation. Safe without a lock: `reserve` is atomic,
 * and a candidate another ADD won meanwhile just moves us on to the next. On any failure the
 * addresses taken so far are released again.
 */
export function allocate(store: Store, conf: IpamConf, owner: Attachment): Allocation[] {
  const wanted = placeRequested(conf)
  const done: Allocation[] = []
  try {
    const used = new Set(store.reservedIPs())
    for (const [i, set] of conf.rangeSets.entries()) {
      const req = wanted.get(i)
      if (req) {
        if (!store.reserve(formatIP(req), owner)) {
          throw new CniError(
            CODE.REQUESTED_IP_UNAVAILABLE,
            `requested IP ${formatIP(req)} (${conf.requestedFrom}) is already allocated`,
            'ask for another address, or DEL the attachment that holds it',
          )
        }
        done.push({ip: req, range: rangeOf(set, req), rangeSet: i})
        continue
      }
      const lastText = store.lastReserved(i)
      const last = lastText ? parseIP(lastText) : undefined
      let got: Addr | undefined
      for (const a of candidates(set, last)) {
        const text = formatIP(a)
        if (used.has(text)) continue
        if (store.reserve(text, owner)) {
          got = a
          break
        }
      }
      if (!got) {
        throw new CniError(
          CODE.POOL_EXHAUSTED,
          `no free addresses in ${describeSet(set)}: all ${capacity(set)} are allocated`,
          'DEL unused attachments (or run GC), or configure a larger range',
        )
      }
      store.setLastReserved(i, formatIP(got))
      done.push({ip: got, range: rangeOf(set, got), rangeSet: i})
    }
  } catch (error) {
    for (const d of done) store.release(formatIP(d.ip))
    throw error
  }
  return done
}

export function toIPConfigs(allocs: Allocation[]): IPConfig[] {
  return allocs.map((a) => ({
    address: `${formatIP(a.ip)}/${a.range.subnet.prefix}`,
    ...(a.range.gateway ? {gateway: formatIP(a.range.gateway)} : {}),
  }))
}

/** Free addresses per range set (for STATUS). */
export function freeCounts(store: Store, conf: IpamConf): bigint[] {
  const used = store.reservedIPs().map((t) => parseIP(t)!)
  return conf.rangeSets.map((set) => {
    const taken = used.filter((a) => setContains(set, a) && !isReservedIn(set, a)).length
    return capacity(set) - BigInt(taken)
  })
}
