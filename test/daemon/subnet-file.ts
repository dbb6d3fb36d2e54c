import {mkdtempSync, readdirSync, readFileSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import t from 'tap'

import {parseSubnetFile, readSubnetFile, renderSubnetFile, writeSubnetFile} from '../../src/daemon/subnet-file.js'

t.test('renders the three lines the IPAM plugin reads', async (t) => {
  t.equal(
    renderSubnetFile({network: '10.244.0.0/16', subnet: '10.244.1.0/24', mtu: 1450}),
    'CNIDBG_NETWORK=10.244.0.0/16\nCNIDBG_SUBNET=10.244.1.0/24\nCNIDBG_MTU=1450\n',
  )
  t.same(parseSubnetFile('# c\nCNIDBG_NETWORK=10.244.0.0/16\nX=1\nCNIDBG_SUBNET=10.244.1.0/24\nCNIDBG_MTU=1500\n'), {
    network: '10.244.0.0/16',
    subnet: '10.244.1.0/24',
    mtu: 1500,
  })
  t.equal(parseSubnetFile('CNIDBG_NETWORK=10.244.0.0/16\nCNIDBG_SUBNET=10.244.1.0/24\n'), undefined, 'MTU missing')
})

t.test('writes atomically, only when the content changes, and leaves no temp files', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cnidbg-dmn-subnet-'))
  t.teardown(() => rmSync(dir, {recursive: true, force: true}))
  const path = join(dir, 'nested', 'subnet.env')
  const env = {network: '10.244.0.0/16', subnet: '10.244.2.0/24', mtu: 1450}
  t.equal(writeSubnetFile(path, env), true)
  t.same(readSubnetFile(path), env)
  const ino = statSync(path).ino
  t.equal(writeSubnetFile(path, env), false, 'unchanged: not rewritten')
  t.equal(statSync(path).ino, ino)
  t.equal(writeSubnetFile(path, {...env, mtu: 1500}), true)
  t.not(statSync(path).ino, ino, 'replaced by rename, not rewritten in place')
  t.match(readFileSync(path, 'utf8'), /CNIDBG_MTU=1500/)
  t.same(readdirSync(join(dir, 'nested')), ['subnet.env'])
})
