import {readFileSync, readdirSync} from 'node:fs'

import t from 'tap'

import {DropWatch, kfreeSkbFilter, parseKfreeSkb, summarizeDrops} from '../../src/kernel/dropwatch.js'

const TRACE = `# tracer: nop
#
            ping-4242    [001] b..2.  1234.500000: kfree_skb: skbaddr=00000000a1b2c3d4 rx_sk=0000000000000000 protocol=2048 location=nft_do_chain+0x4a1/0x5e0 reason: NETFILTER_DROP
            ping-4242    [001] b..2.  1234.500100: kfree_skb: skbaddr=00000000a1b2c3d5 rx_sk=0000000000000000 protocol=2048 location=nft_do_chain+0x4a1/0x5e0 reason: NETFILTER_DROP
          <idle>-0       [000] ..s1.  1234.600000: kfree_skb: skbaddr=00000000a1b2c3d6 rx_sk=0000000000000000 protocol=2048 location=ip_error+0x68/0x1a0 reason: IP_INNOROUTES
     kworker/0:1-77      [000] ..s1.  1234.700000: kfree_skb: skbaddr=00000000a1b2c3d7 rx_sk=0000000000000000 protocol=2048 location=x+0x1/0x2 reason: NOT_SPECIFIED
`

t.test('kfree_skb lines: task, location, reason', async (t) => {
  const ev = parseKfreeSkb(TRACE)
  t.equal(ev.length, 4)
  t.same(ev[0], {
    comm: 'ping',
    pid: 4242,
    timestamp: 1234.5,
    location: 'nft_do_chain+0x4a1/0x5e0',
    reason: 'NETFILTER_DROP',
  })
  t.equal(ev[2]!.comm, '<idle>')
  t.same(summarizeDrops(ev), [
    {reason: 'NETFILTER_DROP', location: 'nft_do_chain', comm: 'ping', count: 2},
    {reason: 'IP_INNOROUTES', location: 'ip_error', comm: '<idle>', count: 1},
  ])
})

const FORMAT_HEAD = `name: kfree_skb
ID: 1453
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:enum skb_drop_reason reason;\toffset:28;\tsize:4;\tsigned:0;

`

t.test('the kfree_skb filter leaves out NOT_SPECIFIED by the number the running kernel gives it', async (t) => {
  // Linux 5.18 to 6.1 (Debian 12): NOT_SPECIFIED is 1, and 2 is NO_SOCKET, which must still be seen.
  const v61 = `${FORMAT_HEAD}print fmt: "skbaddr=%p protocol=%u location=%p reason: %s", REC->skbaddr, REC->protocol, REC->location, __print_symbolic(REC->reason, { 1, "NOT_SPECIFIED" }, { 2, "NO_SOCKET" }, { 3, "PKT_TOO_SMALL" }, { 4, "TCP_CSUM" })\n`
  t.equal(kfreeSkbFilter(v61), 'protocol == 2048 && reason != 1')
  // From 6.2 CONSUMED comes first: NOT_SPECIFIED is 2.
  const v62 = `${FORMAT_HEAD}print fmt: "skbaddr=%p rx_sk=%p protocol=%u location=%pS reason: %s", REC->skbaddr, REC->rx_sk, REC->protocol, REC->location, __print_symbolic(REC->reason, { 2, "NOT_SPECIFIED" }, { 3, "NO_SOCKET" }, { 4, "SOCKET_CLOSE" })\n`
  t.equal(kfreeSkbFilter(v62), 'protocol == 2048 && reason != 2')
  // Names the kernel did not turn into numbers, or no format at all: IPv4 only, never a guessed number.
  const symbolic = `${FORMAT_HEAD}print fmt: "reason: %s", __print_symbolic(REC->reason, { SKB_DROP_REASON_NOT_SPECIFIED, "NOT_SPECIFIED" })\n`
  t.equal(kfreeSkbFilter(symbolic), 'protocol == 2048')
  t.equal(kfreeSkbFilter(''), 'protocol == 2048')
})

function tracefsMounts(): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[2] === 'tracefs')
}

t.test('a live watch leaves tracefs as it found it', async (t) => {
  const before = tracefsMounts()
  const w = await DropWatch.start()
  if (typeof w === 'string') {
    t.comment(`no tracing here: ${w}`)
    t.same(tracefsMounts(), before)
    return
  }
  const mount = tracefsMounts()[0]!.split(' ')[1]!
  t.ok(
    readdirSync(`${mount}/instances`).some((n) => n.startsWith('cnidbg-')),
    'a private instance exists while watching',
  )
  const ours = readdirSync(`${mount}/instances`).find((n) => n.startsWith(`cnidbg-${process.pid}-`))
  const event = `${mount}/instances/${ours}/events/skb/kfree_skb`
  t.equal(
    readFileSync(`${event}/filter`, 'utf8').trim(),
    kfreeSkbFilter(readFileSync(`${event}/format`, 'utf8')),
    'its filter is the one the format of this kernel gives',
  )
  const events = await w.stop()
  t.ok(Array.isArray(events))
  t.same(tracefsMounts(), before, 'mount state restored')
  if (before.length) {
    t.notOk(
      readdirSync(`${mount}/instances`).some((n) => n.startsWith(`cnidbg-${process.pid}-`)),
      'our instance is gone',
    )
  }
})
