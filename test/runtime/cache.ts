import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {
  cachePath,
  decodeConfig,
  encodeConfig,
  listCacheEntries,
  readCacheEntry,
  removeCacheEntry,
  writeCacheEntry,
  type CacheEntry,
} from '../../src/runtime/cache.js'

const tmp = mkdtempSync('/tmp/cnidbgtest-cache-')
t.teardown(() => rmSync(tmp, {force: true, recursive: true}))
let n = 0
const freshDir = () => join(tmp, `c${n++}`)

const confBytes =
  '{\n  "cniVersion": "1.0.0",\n  "name": "containerd-net",\n  "plugins": [{"type": "bridge", "bridge": "cni0"}, {"type": "portmap", "capabilities": {"portMappings": true}}]\n}\n'
const podId = 'b4f3c2a1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3'
const podNetns = '/var/run/netns/cni-3f2a1b0c-9d8e-7f6a-5b4c-3d2e1f0a9b8c'

/**
 * A cache file exactly as containerd (go-cni → libcni cacheAdd) writes one for a bridge+portmap pod:
 * cachedInfo fields in struct order, `config` as base64 ([]byte), capabilityArgs and result as Go maps
 * (keys sorted at every level), `"dns":{}` from the typed 1.0.0 result, no trailing newline.
 */
const containerdFile =
  '{"kind":"cniCacheV1",' +
  `"containerId":"${podId}",` +
  `"config":"${Buffer.from(confBytes).toString('base64')}",` +
  '"ifName":"eth0",' +
  '"networkName":"containerd-net",' +
  `"netns":"${podNetns}",` +
  `"cniArgs":[["IgnoreUnknown","1"],["K8S_POD_NAMESPACE","default"],["K8S_POD_NAME","web-0"],["K8S_POD_INFRA_CONTAINER_ID","${podId}"],["K8S_POD_UID","0d6b1c7e-8f41-4a7c-9d2e-1f3b5a7c9e0d"]],` +
  '"capabilityArgs":{"dns":{"Options":["ndots:5"],"Searches":["default.svc.cluster.local","svc.cluster.local"],"Servers":["10.96.0.10"]},' +
  '"io.kubernetes.cri.pod-annotations":{"kubernetes.io/config.seen":"2024-05-01T10:00:00.000000000Z","kubernetes.io/config.source":"api"},' +
  '"portMappings":[{"containerPort":80,"hostIP":"","hostPort":8080,"protocol":"tcp"}]},' +
  '"result":{"cniVersion":"1.0.0","dns":{},' +
  '"interfaces":[{"mac":"6e:1f:2a:3b:4c:5d","name":"cni0"},{"mac":"9a:8b:7c:6d:5e:4f","name":"veth1a2b3c4d"},{"mac":"0a:58:0a:58:00:05","name":"eth0","sandbox":"' +
  podNetns +
  '"}],' +
  '"ips":[{"address":"10.88.0.5/16","gateway":"10.88.0.1","interface":2}],' +
  '"routes":[{"dst":"0.0.0.0/0"}]}}'

function writeContainerdFile(dir: string): string {
  mkdirSync(join(dir, 'results'), {mode: 0o700, recursive: true})
  const file = join(dir, 'results', `containerd-net-${podId}-eth0`)
  writeFileSync(file, containerdFile, {mode: 0o600})
  return file
}

t.test('R28: the cache path', async (t) => {
  t.equal(cachePath('/var/lib/cni', 'mynet', 'c1', 'eth0'), '/var/lib/cni/results/mynet-c1-eth0')
})

t.test('reads a cache file exactly as containerd/libcni writes one', async (t) => {
  const dir = freshDir()
  const file = writeContainerdFile(dir)
  const got = readCacheEntry(dir, 'containerd-net', podId, 'eth0')
  t.ok(got)
  t.equal(got?.file, file)
  t.equal(got?.legacy, false)
  t.equal(got?.entry.netns, podNetns)
  t.equal(decodeConfig(got!.entry.config), confBytes, 'config decodes to the exact list bytes')
  t.same(got?.entry.cniArgs?.[2], ['K8S_POD_NAME', 'web-0'])
  t.same(got?.entry.capabilityArgs?.portMappings, [{containerPort: 80, hostIP: '', hostPort: 8080, protocol: 'tcp'}])
  t.same((got?.entry.result as {ips: unknown[]}).ips, [{address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 2}])
  t.same(
    listCacheEntries(dir).map((a) => [a.entry.networkName, a.entry.containerId, a.entry.ifName]),
    [['containerd-net', podId, 'eth0']],
  )
})

t.test('writes what libcni writes, byte for byte', async (t) => {
  const srcDir = freshDir()
  writeContainerdFile(srcDir)
  const src = readCacheEntry(srcDir, 'containerd-net', podId, 'eth0')
  const out = freshDir()
  // Keys in a different order than Go would write them: the writer must still produce Go's bytes.
  const scrambled: CacheEntry = {
    result: {
      routes: [{dst: '0.0.0.0/0'}],
      ips: [{interface: 2, gateway: '10.88.0.1', address: '10.88.0.5/16'}],
      interfaces: [
        {name: 'cni0', mac: '6e:1f:2a:3b:4c:5d'},
        {name: 'veth1a2b3c4d', mac: '9a:8b:7c:6d:5e:4f'},
        {sandbox: podNetns, name: 'eth0', mac: '0a:58:0a:58:00:05'},
      ],
      cniVersion: '1.0.0',
    },
    capabilityArgs: {
      portMappings: [{protocol: 'tcp', hostPort: 8080, hostIP: '', containerPort: 80}],
      'io.kubernetes.cri.pod-annotations': {
        'kubernetes.io/config.source': 'api',
        'kubernetes.io/config.seen': '2024-05-01T10:00:00.000000000Z',
      },
      dns: {
        Servers: ['10.96.0.10'],
        Searches: ['default.svc.cluster.local', 'svc.cluster.local'],
        Options: ['ndots:5'],
      },
    },
    cniArgs: src!.entry.cniArgs,
    netns: podNetns,
    networkName: 'containerd-net',
    ifName: 'eth0',
    config: encodeConfig(confBytes),
    containerId: podId,
    kind: 'cniCacheV1',
  }
  const file = writeCacheEntry(out, scrambled)
  t.equal(file, join(out, 'results', `containerd-net-${podId}-eth0`))
  t.equal(readFileSync(file, 'utf8'), containerdFile)
  t.equal(statSync(join(out, 'results')).mode & 0o777, 0o700, 'results dir 0700')
  t.equal(statSync(file).mode & 0o777, 0o600, 'file 0600')

  // Reading it back and writing it again changes nothing.
  const again = freshDir()
  writeCacheEntry(again, readCacheEntry(out, 'containerd-net', podId, 'eth0')!.entry)
  t.equal(readFileSync(cachePath(again, 'containerd-net', podId, 'eth0'), 'utf8'), containerdFile)
})

t.test('empty fields are omitted, as Go omitempty does; key order is the struct order', async (t) => {
  const dir = freshDir()
  const file = writeCacheEntry(dir, {
    capabilityArgs: {},
    cniArgs: [],
    config: 'e30=',
    containerId: 'c1',
    ifName: 'eth0',
    kind: 'cniCacheV1',
    netns: '',
    networkName: 'n',
  })
  t.equal(
    readFileSync(file, 'utf8'),
    '{"kind":"cniCacheV1","containerId":"c1","config":"e30=","ifName":"eth0","networkName":"n"}',
  )
})

t.test('strings are escaped like Go: <, > and & as \\u escapes', async (t) => {
  const dir = freshDir()
  const file = writeCacheEntry(dir, {
    cniArgs: [['K', 'a<b>&c']],
    config: '',
    containerId: 'c1',
    ifName: 'eth0',
    kind: 'cniCacheV1',
    networkName: 'n',
  })
  t.equal(
    readFileSync(file, 'utf8'),
    '{"kind":"cniCacheV1","containerId":"c1","config":"","ifName":"eth0","networkName":"n","cniArgs":[["K","a\\u003cb\\u003e\\u0026c"]]}',
  )
  t.same(readCacheEntry(dir, 'n', 'c1', 'eth0')?.entry.cniArgs, [['K', 'a<b>&c']], 'and read back unescaped')
})

t.test('the config survives base64 exactly, whatever its bytes', async (t) => {
  const text = '{"name":"ünïcödé","x":"\\u00e9\\n"}\r\n\t'
  t.equal(decodeConfig(encodeConfig(text)), text)
  t.equal(encodeConfig('{}'), 'e30=')
})

t.test('legacy (pre-cniCacheV1) bare results: read for an attachment, skipped when listing', async (t) => {
  const dir = freshDir()
  mkdirSync(join(dir, 'results'), {recursive: true})
  const legacy = {cniVersion: '0.3.1', ips: [{address: '10.1.0.5/24', version: '4'}]}
  writeFileSync(cachePath(dir, 'old', 'c9', 'eth0'), JSON.stringify(legacy))
  const got = readCacheEntry(dir, 'old', 'c9', 'eth0')
  t.equal(got?.legacy, true)
  t.same(got?.entry.result, legacy)
  t.equal(got?.entry.networkName, 'old')
  t.equal(got?.entry.containerId, 'c9')
  t.same(listCacheEntries(dir), [], 'libcni GetCachedAttachments skips non-cniCacheV1 files')
})

t.test('unreadable and incomplete entries are skipped, like libcni', async (t) => {
  const dir = freshDir()
  mkdirSync(join(dir, 'results'), {recursive: true})
  const w = (name: string, v: unknown) =>
    writeFileSync(join(dir, 'results', name), typeof v === 'string' ? v : JSON.stringify(v))
  w('n-bad-eth0', '{not json')
  w('n-kind-eth0', {containerId: 'kind', ifName: 'eth0', kind: 'cniCacheV2', networkName: 'n'})
  w('n-noif-eth0', {containerId: 'noif', kind: 'cniCacheV1', networkName: 'n'})
  w('n-nonet-eth0', {containerId: 'nonet', ifName: 'eth0', kind: 'cniCacheV1'})
  w('n-ok-eth0', {config: '', containerId: 'ok', ifName: 'eth0', kind: 'cniCacheV1', networkName: 'n'})
  w('n-ok-eth0.tmp-4242', {config: '', containerId: 'ok', ifName: 'eth0', kind: 'cniCacheV1', networkName: 'n'})
  t.same(
    listCacheEntries(dir).map((a) => a.entry.containerId),
    ['ok'],
  )
  t.equal(readCacheEntry(dir, 'n', 'bad', 'eth0'), undefined)
  t.equal(readCacheEntry(dir, 'n', 'missing', 'eth0'), undefined)
  t.same(listCacheEntries(join(dir, 'nope')), [], 'no cache dir: nothing, no error')
})

t.test('listing one network does not pick up a network whose name it prefixes', async (t) => {
  const dir = freshDir()
  const e = (networkName: string, containerId: string): CacheEntry => ({
    config: '',
    containerId,
    ifName: 'eth0',
    kind: 'cniCacheV1',
    networkName,
  })
  writeCacheEntry(dir, e('a', 'c1'))
  writeCacheEntry(dir, e('a-b', 'c2'))
  writeCacheEntry(dir, e('b', 'c3'))
  t.same(
    listCacheEntries(dir, 'a').map((x) => x.entry.containerId),
    ['c1'],
  )
  t.same(
    listCacheEntries(dir, 'a-b').map((x) => x.entry.containerId),
    ['c2'],
  )
  t.equal(listCacheEntries(dir).length, 3)
})

t.test('removeCacheEntry removes one entry; a missing one is fine', async (t) => {
  const dir = freshDir()
  const file = writeCacheEntry(dir, {
    config: '',
    containerId: 'c1',
    ifName: 'eth0',
    kind: 'cniCacheV1',
    networkName: 'n',
  })
  removeCacheEntry(dir, 'n', 'c1', 'eth0')
  t.notOk(existsSync(file))
  t.doesNotThrow(() => removeCacheEntry(dir, 'n', 'c1', 'eth0'))
})

t.test('the temp file is never written through a symlink planted at its name', async (t) => {
  const dir = freshDir()
  const victim = join(tmp, `victim${n}`)
  writeFileSync(victim, 'precious')
  const entry: CacheEntry = {config: '', containerId: 'c1', ifName: 'eth0', kind: 'cniCacheV1', networkName: 'n'}
  mkdirSync(join(dir, 'results'), {recursive: true})
  symlinkSync(victim, `${cachePath(dir, 'n', 'c1', 'eth0')}.tmp-${process.pid}`)
  const file = writeCacheEntry(dir, entry)
  t.equal(readFileSync(victim, 'utf8'), 'precious', 'the link target is untouched')
  t.notOk(lstatSync(file).isSymbolicLink(), 'the entry is a file of its own')
  t.equal(readCacheEntry(dir, 'n', 'c1', 'eth0')?.entry.containerId, 'c1')
  t.same(readdirSync(join(dir, 'results')), ['n-c1-eth0'], 'no temp file left')
})

t.test('one file name, two attachments: the names inside say whose entry it is', async (t) => {
  const dir = freshDir()
  // network a-b + container c and network a + container b-c are both results/a-b-c-eth0 (libcni's layout).
  const file = writeCacheEntry(dir, {
    config: '',
    containerId: 'c',
    ifName: 'eth0',
    kind: 'cniCacheV1',
    networkName: 'a-b',
    result: {cniVersion: '1.0.0', ips: [{address: '10.0.0.2/24'}]},
  })
  t.equal(file, cachePath(dir, 'a', 'b-c', 'eth0'), 'the same file name')
  t.equal(readCacheEntry(dir, 'a', 'b-c', 'eth0'), undefined, "another attachment's entry is not this one's")
  t.equal(readCacheEntry(dir, 'a-b', 'c', 'eth0')?.entry.containerId, 'c')
  removeCacheEntry(dir, 'a', 'b-c', 'eth0')
  t.ok(existsSync(file), "a DEL of a/b-c leaves a-b/c's entry")
  removeCacheEntry(dir, 'a-b', 'c', 'eth0')
  t.notOk(existsSync(file), 'its own DEL removes it')
  for (const text of ['null', '[1]', '7'])
    t.doesNotThrow(() => {
      writeFileSync(file, text)
      t.equal(readCacheEntry(dir, 'a-b', 'c', 'eth0'), undefined, `${text} is no entry`)
      t.same(listCacheEntries(dir), [])
    })
})
