import {CniError, CODE} from '../errors.js'
import {formatCIDR, parseCIDR, parseIP, sameAddr} from '../../core/ip.js'
import {fromWire} from '../result.js'
import type {Ctx, PluginFuncs} from '../skel.js'
import {holdPoint} from '../test-hold.js'
import type {Attachment, Result} from '../types.js'
import {validAttachments} from '../valid-attachments.js'
import {allocate, freeCounts, toIPConfigs} from './allocator.js'
import {readIpamConf, readStoreConf} from './config.js'
import {DiskStore} from './disk-store.js'
import {setContains} from './range.js'
import {heldBy, heldByAny, releaseHeldBy} from './store.js'

const ownerOf = (ctx: Ctx): Attachment => ({containerID: ctx.args.containerID, ifname: ctx.args.ifname})

/** ADD: one address per range set; the abbreviated IPAM result (no interfaces, SPEC §5 "Delegated plugins"). */
async function add(ctx: Ctx): Promise<Result> {
  const conf = readIpamConf(ctx.conf, ctx.name, ctx.args.args)
  const store = DiskStore.open(conf.dataDir, conf.network, true)
  // No lock: every address is claimed with link(2), which two ADDs can never both win, so parallel
  // ADDs need no serialising (a polled lock starves under a burst of 100 pods on a busy node).
  try {
    store.sweep()
    const allocs = allocate(store, conf, ownerOf(ctx))
    await holdPoint('ipam-reserved')
    return {cniVersion: ctx.cniVersion, ips: toIPConfigs(allocs), routes: conf.routes}
  } finally {
    store.close()
  }
}

/** DEL: releases whatever the attachment holds. Needs no ranges, so it works even when the config's pool is gone. */
async function del(ctx: Ctx): Promise<void> {
  const {dataDir, network} = readStoreConf(ctx.conf, ctx.name)
  const store = DiskStore.open(dataDir, network, false)
  // SPEC §2 DEL: an unknown attachment is success. Only this attachment's files are removed, and no
  // one else removes them (GC never runs alongside DEL, SPEC §3), so no lock is needed.
  try {
    releaseHeldBy(store, ownerOf(ctx))
  } finally {
    store.close()
  }
}

/**
 * CHECK: the attachment still holds its addresses (checklist P82: "IP reservations"). Every prevResult
 * address inside our ranges must be reserved for this attachment, and it must hold at least one.
 */
async function check(ctx: Ctx): Promise<void> {
  const {dataDir, network} = readStoreConf(ctx.conf, ctx.name)
  const store = DiskStore.open(dataDir, network, false)
  const owner = ownerOf(ctx)
  let held
  try {
    held = heldBy(store, owner).map((t) => parseIP(t)!)
  } finally {
    store.close()
  }
  const where = `${store.dir}`
  if (held.length === 0) {
    throw new CniError(
      CODE.CHECK_FAILED,
      `no address is reserved for container ${owner.containerID} ${owner.ifname} in ${where}`,
      'the reservation file was removed; DEL and ADD the attachment again',
    )
  }
  const prev = ctx.conf.prevResult === undefined ? undefined : fromWire(ctx.conf.prevResult, 'prevResult')
  if (!prev) return
  const conf = readIpamConf(ctx.conf, ctx.name, ctx.args.args)
  for (const ip of prev.ips ?? []) {
    const a = parseCIDR(ip.address)!
    if (!conf.rangeSets.some((s) => setContains(s, a))) continue
    if (!held.some((h) => sameAddr(h, a))) {
      throw new CniError(
        CODE.CHECK_FAILED,
        `${ip.address} from prevResult is not reserved for container ${owner.containerID} ${owner.ifname} in ${where}`,
        'the reservation was released or taken over; DEL and ADD the attachment again',
      )
    }
  }
}

/** STATUS (SPEC §2): code 50 when some range set has no free address left, or the node has no pod CIDR yet. */
async function status(ctx: Ctx): Promise<void> {
  let conf
  try {
    conf = readIpamConf(ctx.conf, ctx.name, '')
  } catch (error) {
    if (error instanceof CniError && error.code === CODE.TRY_AGAIN) {
      throw new CniError(CODE.NOT_AVAILABLE, error.message, error.details)
    }
    throw error
  }
  const store = DiskStore.open(conf.dataDir, conf.network, false)
  let free
  try {
    free = freeCounts(store, conf)
  } finally {
    store.close()
  }
  const full = conf.rangeSets.filter((_, i) => free[i]! <= 0n)
  if (full.length > 0) {
    throw new CniError(
      CODE.NOT_AVAILABLE,
      `address pool exhausted: no free address in ${full.map((s) => s.map((r) => formatCIDR(r.subnet)).join(',')).join(' and ')}`,
      'DEL unused attachments (or run GC), or configure a larger range',
    )
  }
}

/**
 * GC: releases every reservation whose attachment is not valid. Without the key at all we cannot tell
 * what is stale, so nothing is released (checklist P97).
 */
async function gc(ctx: Ctx): Promise<void> {
  const valid = validAttachments(ctx.conf)
  if (!valid) return
  const {dataDir, network} = readStoreConf(ctx.conf, ctx.name)
  const store = DiskStore.open(dataDir, network, false)
  try {
    if (store.reservedIPs().length === 0) return
    const keep = heldByAny(valid)
    // GC rewrites the whole store: one GC at a time, and a GC killed midway is taken over.
    const unlock = await store.lock()
    try {
      await holdPoint('ipam-gc-locked')
      store.sweep()
      for (const r of store.list()) {
        if (!keep(r)) store.release(r.ip)
      }
    } finally {
      unlock()
    }
  } finally {
    store.close()
  }
}

export const ipamPlugin: PluginFuncs = {
  about: 'cnidbg-ipam: host-local-style IPAM for the cnidbg reference plugin',
  add,
  del,
  check,
  status,
  gc,
}
