// batchWord against iproute2's own parser: every value it accepts goes through a real `ip -batch` (as
// a link alias and as a link name, in a sandbox netns) and must come back byte for byte; every value
// it refuses must really be one ip cannot read back. Values are random (fast-check, seeded: rerun a
// failure with CNIDBG_SEED=<seed> printed below) plus the ones iproute2's parser treats specially.
import fc from 'fast-check'
import t from 'tap'

import {run} from '../../src/process/exec.js'
import {Sandbox} from '../../src/netns/sandbox.js'
import {arg, batchLine, batchWord} from '../../src/reference-plugin/batch.js'
import {CniError} from '../../src/reference-plugin/errors.js'
import {ifnameProblem} from '../../src/reference-plugin/env.js'

const seed = Number(process.env.CNIDBG_SEED ?? Math.floor(Math.random() * 2 ** 31))
t.comment(`seed ${seed} (CNIDBG_SEED=${seed} reproduces this run)`)

const sb = await Sandbox.create({label: 'test-batch'})
t.teardown(() => sb.dispose())
const ns = sb.host.name

/** `ip -batch` in the sandbox; fails the test with ip's own words when a line fails. */
async function batch(lines: string[]): Promise<void> {
  const r = await run('ip', ['-n', ns, '-batch', '-'], {input: lines.join('\n') + '\n', timeoutMs: 60_000})
  if (r.exitCode !== 0) throw new Error(`ip -batch failed: ${r.stderr}`)
}

/** Runs a shell in the sandbox netns with its own /sys (ip netns exec remounts it). */
async function inNs(script: string): Promise<string> {
  const r = await run('ip', ['netns', 'exec', ns, 'sh', '-c', script], {timeoutMs: 60_000})
  if (r.exitCode !== 0) throw new Error(r.stderr)
  return r.stdout
}

// Bytes iproute2's batch reader or word splitter treats specially, and a few that it does not.
const SPECIAL = [' ', '\t', '\r', '\n', '\0', '"', "'", '#', '\\', '\v', '\f', '\u00a0', '%', '/', ':', 'é', '😀']
const unit = fc.oneof(fc.constantFrom(...SPECIAL), fc.string({unit: 'binary', minLength: 1, maxLength: 1}))
const values = (n: number, maxLength: number, offset: number): string[] =>
  fc.sample(fc.string({unit, maxLength}), {seed: seed + offset, numRuns: n})

const FIXED = [
  '',
  'a b',
  `a'b c`,
  `a"b'c`,
  `'a`,
  `"a`,
  `'a"`,
  'x\\',
  'x\\ y',
  '\\',
  'a\tb',
  'a\rb',
  'a\vb',
  'up',
  'netns',
]

/** Why ip cannot read `v` back, by the rules found against ip (see src/reference-plugin/batch.ts). */
function reallyInexpressible(v: string): boolean {
  if (v.includes('\n') || v.includes('#') || v.includes('\0')) return true
  const wrap = v === '' || v[0] === '"' || v[0] === "'" || v.endsWith('\\') || /[ \t\r]/.test(v)
  return wrap && v.includes('"') && v.includes("'")
}

function tryWord(v: string, field: string): string | undefined {
  try {
    return batchWord(v, field)
  } catch (error) {
    if (!(error instanceof CniError)) throw error
    if (!reallyInexpressible(v)) t.fail(`refused although ip can read it back: ${JSON.stringify(v)}`)
    if (error.code !== (field.startsWith('CNI_') ? 4 : 7) || !error.message.startsWith(field)) {
      t.fail(`refusal of ${JSON.stringify(v)} does not name ${field}: ${error.code} ${error.message}`)
    }
    return undefined
  }
}

t.test('aliases: every accepted value comes back byte for byte', async (t) => {
  const N = 32
  await batch(Array.from({length: N}, (_, i) => `link add name v${i} type veth peer name w${i}`))
  // The kernel takes aliases of up to 255 bytes.
  const all = [...FIXED, ...values(600, 60, 0)].filter((v) => Buffer.byteLength(v) <= 255)
  const ok = all.filter((v) => tryWord(v, 'an alias') !== undefined)
  t.ok(ok.length > all.length / 3, `${ok.length} of ${all.length} values are expressible`)
  for (let i = 0; i < ok.length; i += N) {
    const chunk = ok.slice(i, i + N)
    await batch(chunk.map((v, j) => batchLine('link', 'set', 'dev', `v${j}`, 'alias', arg(v, 'an alias'))))
    const out = await inNs(
      `for i in $(seq 0 ${chunk.length - 1}); do cat /sys/class/net/v$i/ifalias; printf '\\0'; done`,
    )
    const back = out.split('\0').slice(0, -1)
    chunk.forEach((v, j) => {
      // sysfs ends a set alias with a newline; an empty alias reads as nothing.
      const got = back[j]!.endsWith('\n') ? back[j]!.slice(0, -1) : back[j]
      if (got !== v) t.fail(`alias ${JSON.stringify(v)} came back as ${JSON.stringify(got)}`)
    })
  }
  t.pass('all aliases read back')
})

t.test('link names: what the kernel takes is created and deleted by its exact name', async (t) => {
  const names = [...new Set([`a"b'c`, `'x`, `"x`, 'x\\', 'a#b', 'if1', 'up', ...values(600, 15, 1)])].filter(
    (v) => !ifnameProblem(v),
  )
  const ok = names.filter((v) => tryWord(v, 'CNI_IFNAME') !== undefined)
  t.ok(ok.length > 50, `${ok.length} of ${names.length} kernel-valid names are expressible`)
  for (let i = 0; i < ok.length; i += 50) {
    const chunk = ok.slice(i, i + 50)
    await batch(
      chunk.map((v, j) =>
        batchLine('link', 'add', 'name', arg(v, 'CNI_IFNAME'), 'type', 'veth', 'peer', 'name', `p${j}`),
      ),
    )
    const out = await inNs(`for d in /sys/class/net/*; do printf '%s\\0' "\${d##*/}"; done`)
    const present = new Set(out.split('\0'))
    for (const v of chunk) if (!present.has(v)) t.fail(`link ${JSON.stringify(v)} was not created by that name`)
    await batch(chunk.map((v) => batchLine('link', 'del', 'dev', arg(v, 'CNI_IFNAME'))))
    const left = (await inNs(`ls /sys/class/net`)).split('\n').filter((l) => /^p\d+$/.test(l))
    t.same(left, [], 'each link deleted by its name, its peer with it')
  }
})

t.test('a value that cannot be written is a CNI error naming its field; keywords are checked too', async (t) => {
  t.throws(() => batchLine('link', 'set', 'dev', arg('e#', 'CNI_IFNAME'), 'up'), {code: 4, message: /^CNI_IFNAME "e#"/})
  t.throws(() => batchLine('route', 'append', arg('10.0.0.0/8\nlink del lo', 'routes[0].dst')), {
    code: 7,
    message: /routes\[0\]\.dst .* newline/,
  })
  t.throws(() => batchLine('link', 'x#'), {code: 199})
  t.equal(batchLine('link', 'set', 'dev', arg(`a"b'c`, 'CNI_IFNAME'), 'up'), `link set dev a"b'c up`)
  t.equal(batchWord(`'x`, 'f'), `"'x"`)
  t.equal(batchWord(`x\\`, 'f'), `"x\\"`, 'a trailing backslash would join the next line')
  t.equal(batchWord('', 'f'), '""')
})
