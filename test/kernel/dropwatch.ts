import {readFileSync, readdirSync} from 'node:fs'

import t from 'tap'

import {DropWatch, parseKfreeSkb, summarizeDrops} from '../../src/kernel/dropwatch.js'

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
