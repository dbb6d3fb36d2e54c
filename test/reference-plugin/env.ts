// The CNI_* checks at the boundary: what is refused, with which code, naming which variable.
import t from 'tap'

import {ifnameProblem, netnsProblem, readCmdArgs} from '../../src/reference-plugin/env.js'

const base = {CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/p', CNI_IFNAME: 'eth0'}

t.test('CNI_IFNAME is what the kernel takes as that very name', async (t) => {
  for (const ok of ['eth0', 'a23456789012345', `x"'master'"br0`, 'e#', 'up', 'é', '\\', 'if1']) {
    t.equal(ifnameProblem(ok), undefined, JSON.stringify(ok))
  }
  const bad: Array<[string, RegExp]> = [
    ['', /empty/],
    ['.', /not a valid/],
    ['..', /not a valid/],
    ['all', /reserved by the kernel/],
    ['default', /reserved by the kernel/],
    ['a23456789012345x', /16 bytes/],
    ['éééééééé', /16 bytes/],
    ['a/b', /"\/", ":" or whitespace/],
    ['a:b', /"\/", ":" or whitespace/],
    ['a b', /whitespace/],
    ['a\tb', /control/],
    ['a\nb', /control/],
    ['a\u0000b', /control/],
    ['a\u007fb', /control/],
    ['à', /0xA0/],
    ['a\u00a0', /0xA0/],
    ['eth%d', /"%"/],
    ['a\ufffdb', /UTF-8/],
  ]
  for (const [name, why] of bad) t.match(ifnameProblem(name), why, JSON.stringify(name))
})

t.test('CNI_NETNS must be an absolute path without control characters', async (t) => {
  t.equal(netnsProblem('/proc/123/ns/net'), undefined)
  t.equal(netnsProblem('/run/netns/a b#c"d'), undefined, 'quoting handles the rest')
  t.match(netnsProblem('123'), /absolute/, 'ip would read a bare word as a name in /run/netns or a pid')
  t.match(netnsProblem('run/netns/x'), /absolute/)
  t.match(netnsProblem('/run/x\nnetns exec X touch F'), /control/)
  t.match(netnsProblem('/run/\ufffd'), /UTF-8/)
})

t.test('readCmdArgs turns each problem into code 4 naming the variable', async (t) => {
  t.throws(() => readCmdArgs({...base, CNI_IFNAME: `x"'netns'"1`.padEnd(16, 'x')}), {code: 4, message: /^CNI_IFNAME/})
  t.throws(() => readCmdArgs({...base, CNI_NETNS: '1\nnetns exec X touch F'}), {code: 4, message: /^CNI_NETNS/})
  t.throws(() => readCmdArgs({...base, CNI_COMMAND: 'CHECK', CNI_NETNS: 'rel'}), {code: 4, message: /^CNI_NETNS/})
  t.throws(() => readCmdArgs({...base, CNI_CONTAINERID: 'c"1'}), {code: 4, message: /^CNI_CONTAINERID/})
  t.throws(() => readCmdArgs({...base, CNI_CONTAINERID: 'c1\n'}), {code: 4, message: /^CNI_CONTAINERID/})
  // SPEC §2 DEL: CNI_NETNS may be gone or unset; DEL never opens it, so a bad one does not fail it.
  t.equal(readCmdArgs({...base, CNI_COMMAND: 'DEL', CNI_NETNS: 'x\ny'}).ifname, 'eth0')
  t.equal(readCmdArgs({...base, CNI_NETNS: '/run/netns/p'}).netnsPath, '/run/netns/p')
})
