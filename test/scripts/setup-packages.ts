// scripts/setup.sh installs a Debian package for every program cnidbg runs (the table below, from
// the spawns and scripts in src/), and every program a command's preflight requires is in the table.
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {ROOT} from '../helpers/capture.js'

/** What src/ runs, and the Debian package it comes from (essential ones, such as grep, need none). */
const PACKAGE_OF: Record<string, string | null> = {
  ip: 'iproute2',
  bridge: 'iproute2',
  tc: 'iproute2',
  ss: 'iproute2',
  nsenter: 'util-linux',
  unshare: 'util-linux',
  setpriv: 'util-linux',
  mount: 'mount',
  umount: 'mount',
  iptables: 'iptables',
  'iptables-save': 'iptables',
  'iptables-restore': 'iptables',
  nft: 'nftables',
  // src/kernel/conntrack.ts; its fallback, /proc/net/nf_conntrack, needs CONFIG_NF_CONNTRACK_PROCFS.
  conntrack: 'conntrack',
  tcpdump: 'tcpdump',
  ping: 'iputils-ping',
  nc: 'netcat-openbsd',
  sysctl: 'procps',
  openssl: 'openssl',
  dnsmasq: 'dnsmasq-base',
  bird: 'bird2',
  birdc: 'bird2',
  kubectl: 'kubernetes-client',
  grep: null,
  timeout: null,
  sleep: null,
  cat: null,
  mkfifo: null,
  rm: null,
  sh: null,
  bash: null,
}

const setup = readFileSync(join(ROOT, 'scripts', 'setup.sh'), 'utf8')
const packages = new Set([
  ...(/^PACKAGES=\(([^)]*)\)/m.exec(setup)?.[1] ?? '').split(/\s+/).filter(Boolean),
  ...[...setup.matchAll(/PACKAGES\+=\(([^)]*)\)/g)].flatMap((m) => m[1]!.split(/\s+/).filter(Boolean)),
])

t.test('setup.sh installs the package of every program cnidbg runs', async (t) => {
  for (const [program, pkg] of Object.entries(PACKAGE_OF)) if (pkg) t.ok(packages.has(pkg), `${program}: ${pkg}`)
})

t.test("every program a preflight requires is in this test's table", async (t) => {
  const files = readdirSync(join(ROOT, 'src'), {recursive: true, encoding: 'utf8'}).filter((f) => f.endsWith('.ts'))
  const required = new Set<string>()
  for (const f of files) {
    const text = readFileSync(join(ROOT, 'src', f), 'utf8')
    for (const m of text.matchAll(/require(?:Environment|Programs)\(\[([^\]]*)\]/g))
      for (const w of m[1]!.matchAll(/'([^']+)'/g)) required.add(w[1]!)
    for (const m of text.matchAll(/_BINARIES = \[([^\]]*)\]/g))
      for (const w of m[1]!.matchAll(/'([^']+)'/g)) required.add(w[1]!)
  }
  t.ok(required.size > 5, `found: ${[...required].join(' ')}`)
  for (const p of required) t.ok(p in PACKAGE_OF, p)
})
