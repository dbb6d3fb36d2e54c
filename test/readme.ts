// Every shell example in README.md runs, as written, with the built CLI as `cnidbg` on the PATH:
// each command of every ```sh block is either run here (in README order within its section, one lab
// shared by the lab and trace examples) or listed in SKIPPED with the reason it can't run in a test.
// Sections that share nothing run side by side (EACH_ALONE: its examples too). A new example is run by default; a table entry that
// no longer matches the README fails, so the tables can't rot.
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import {join} from 'node:path'

import t, {type Test} from 'tap'

import {labDown} from '../src/lab/down.js'
import {labNetnsPrefix} from '../src/lab/names.js'
import {run} from '../src/process/exec.js'
import {listNetns} from '../src/netns/netns.js'
import {ROOT} from './helpers/capture.js'
import {testLabName} from './helpers/lab.js'
import {rootLinks} from './helpers/machine.js'

t.setTimeout(1_800_000)

/** One command of a ```sh block: continuation lines joined, the trailing `# comment` dropped. */
export interface Example {
  section: string
  command: string
}

export function readmeExamples(markdown: string): Example[] {
  const out: Example[] = []
  let section = ''
  let block: string[] | undefined
  for (const line of markdown.split('\n')) {
    if (!block && line.startsWith('#')) section = line.replace(/^#+\s*/, '')
    if (!block && line.trim() === '```sh') block = []
    else if (block && line.trim() === '```') {
      const text = block.join('\n').replace(/\\\n\s*/g, '')
      for (const raw of text.split('\n')) {
        const command = raw.replace(/(^|\s{2,})#\s.*$/, '').trim()
        if (command) out.push({section, command})
      }
      block = undefined
    } else if (block) block.push(line)
  }
  return out
}

/** Examples that can't run in a test, each with the reason. */
const SKIPPED: Record<string, string> = {
  'bash scripts/demo.sh': 'installs packages and runs the whole demo (its own lab); scripts/test.sh covers it',
  'bash scripts/test.sh': 'the whole suite, this test included',
  'bash scripts/setup.sh': 'installs Debian and npm packages and rebuilds dist/ under the running tests',
  'npm run build': 'rebuilds dist/ while other tests use it; this test needs it built already',
  'npm run lint': 'lints the whole tree; scripts/test.sh runs it',
  'npm run typecheck': 'type-checks the whole tree; scripts/test.sh runs it',
  'cnidbg exec add mynet /run/netns/pod1':
    'needs a network "mynet" in /etc/cni/net.d and a namespace "pod1": tests write no /etc and name namespaces cnidbg-…',
  "CNI_PATH=/opt/cni/bin CNI_IFNAME=net1 CNI_ARGS='IgnoreUnknown=1' cnidbg exec del mynet /run/netns/pod1":
    'as the exec add mynet example',
  'cnidbg ref install --bin-dir /opt/cni/bin --conf-dir /etc/cni/net.d --subnet-file /run/cnidbg/subnet.env':
    "installs into this machine's /opt/cni/bin and /etc/cni/net.d",
  '/opt/cni/bin/cnidbg-ref --serve &': 'needs the ref install above; served ADD/DEL: test/reference-plugin/serve.ts',
  'cnidbg ref daemon --node node1 --kubeconfig /etc/kubernetes/kubelet.conf --mode vxlan --host-network':
    "a real node: programs the root namespace's routes; in namespaces: test/lab/up.ts",
  'cnidbg trace default/web-0 default/web-1 --kubeconfig ~/.kube/config --protocol tcp --port 8080':
    'needs a real cluster with pods web-0 and web-1',
  'cnidbg trace web-0 web-1 --agents-only':
    "needs a real cluster's agents; through agents in namespaces: test/services/trace-agents.ts and trace-from-node.ts",
  'cnidbg agent --node worker-1 --host-network --listen 10.0.0.11:10265':
    'a real node: serves the root namespace until a signal; in namespaces, built and signalled: test/commands/agent.ts',
}

/** Examples whose documented outcome is not exit 0 at the point the README runs them. */
const EXIT: Record<string, number> = {
  // The README breaks the lab (fdb-stale) just before: trace reports pod-a → pod-c unreachable.
  'cnidbg trace pod-a pod-c': 1,
  'cnidbg trace 10.244.1.2 10.244.2.2 --static-only --json': 1,
  'cnidbg trace pod-a pod-c --format mermaid': 1,
  // No lab pod has the label app=web that `kubectl create service clusterip web` selects.
  'cnidbg trace pod-a svc/web': 1,
  'cnidbg trace pod-a svc/default/web --port 80 --json': 1,
}

/**
 * Examples run from the repository (its own paths), not from the scratch dir. They run in a stand-in
 * checkout of symlinks without `.tap`: a tap run started in the real root deletes `.tap/processinfo`
 * at start, under the tap run this file is part of (CI once failed on the ENOTEMPTY that left).
 */
const IN_REPO = new Set(['npx tap test/runtime/conf.ts'])

/** Examples run after all others, because the ones below them in the README need what they remove. */
const LAST = new Set(['cnidbg lab heal && cnidbg lab down'])

/**
 * Sections whose examples build on another section's, run in that section's turn (after it, in README
 * order). Every other section runs by itself, side by side with the rest: they share no file, name
 * or namespace (exec and conformance work in sandboxes of their own; the lab is CNIDBG_LAB's).
 */
const AFTER: Record<string, string> = {
  // The trace examples trace the lab the lab examples brought up.
  '`cnidbg trace`': '`cnidbg lab`: a cluster on one machine',
}

/**
 * Sections whose examples share nothing with each other either: each example is a turn of its own.
 * Every conformance run works in sandboxes of its own, on its own config, and only one of them
 * writes a file (junit.xml).
 */
const EACH_ALONE = new Set(['`cnidbg conformance`'])

/** Extra assertions on an example's output. */
const CHECK: Record<string, (t: Test, out: {stdout: string; stderr: string}) => void> = {
  'cnidbg exec add --conf bridge.conflist --cni-path /usr/lib/cni --rm -v': (t, {stdout}) =>
    t.match(stdout, /✓ ADD .* in \d+ ms/, 'the ADD summary'),
  'cnidbg conformance my.conflist --cni-path ./bin --reporter junit --output junit.xml --reporter tap': (
    t,
    {stdout},
  ) => {
    t.match(stdout, /^TAP version 14/, 'TAP on stdout')
    t.match(readFileSync(join(work, 'junit.xml'), 'utf8'), /<testsuites/, 'JUnit in junit.xml')
  },
  'kubectl --kubeconfig /run/cnidbg/lab/lab/kubeconfig get nodes,pods -o wide': (t, {stdout}) =>
    t.match(stdout, /node\/node3[^]*pod\/pod-f/, 'the nodes and pods'),
  'cnidbg trace pod-a pod-c': (t, {stdout}) => t.match(stdout, /stale-fdb/, 'the fault broken above is named'),
  'cnidbg trace 10.244.1.2 10.244.2.2 --static-only --json': (t, {stdout}) =>
    t.match(JSON.parse(stdout), {command: 'trace', status: 1}, 'one JSON envelope'),
  'cnidbg trace pod-a pod-c --format mermaid': (t, {stdout}) => t.match(stdout, /flowchart|graph/, 'a Mermaid chart'),
  'cnidbg trace pod-a svc/web': (t, {stdout}) => t.match(stdout, /no-endpoints/, 'a Service with no endpoints'),
  'cnidbg trace pod-a svc/default/web --port 80 --json': (t, {stdout}) =>
    t.match(
      JSON.parse(stdout),
      {command: 'trace', status: 1, result: {fault: {reason: 'no-endpoints', service: 'default/web'}}},
      'its fault names the Service',
    ),
}

const examples = readmeExamples(readFileSync(join(ROOT, 'README.md'), 'utf8'))
const known = new Set(examples.map((e) => e.command))

t.test('the README has shell examples, and every table entry names one of them', async (t) => {
  t.ok(examples.length > 20, `${examples.length} examples`)
  for (const table of [Object.keys(SKIPPED), Object.keys(EXIT), [...IN_REPO], [...LAST], Object.keys(CHECK)])
    for (const command of table) t.ok(known.has(command), `still in the README: ${command}`)
  const sections = new Set(examples.map((e) => e.section))
  for (const section of [...Object.keys(AFTER), ...Object.values(AFTER), ...EACH_ALONE])
    t.ok(sections.has(section), `a section with examples: ${section}`)
})

// The scratch dir stands in for the user's: the files the examples name, the repository's fixtures,
// the upstream plugins as ./bin, and CNI_PATH with the reference plugins. The lab gets its own name
// (CNIDBG_LAB, which every lab command and trace read) so it never meets another lab on this
// machine; only the kubeconfig path in the README spells the default name, and it is the one
// substitution below (in each example that names it).
const lab = testLabName()
const work = mkdtempSync('/tmp/cnidbgtest-readme-')
const shim = join(work, '.bin')
mkdirSync(shim)
writeFileSync(join(shim, 'cnidbg'), `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'bin', 'run.js')}" "$@"\n`, {
  mode: 0o755,
})
copyFileSync(join(ROOT, 'fixtures/conf/upstream-bridge.conflist'), join(work, 'bridge.conflist'))
// The user's own config in the reporters example: an upstream IPAM plugin's, a third of the CPU of a
// second bridge run (the example before it runs bridge at every version already).
copyFileSync(join(ROOT, 'fixtures/conf/upstream-static.conflist'), join(work, 'my.conflist'))
// An IPAM plugin that speaks 1.1.0 and passes --strict, as the example asks: the reference one.
writeFileSync(
  join(work, 'ipam.conf'),
  JSON.stringify({
    cniVersion: '1.1.0',
    name: 'readme-ipam',
    type: 'cnidbg-ref',
    ipam: {type: 'cnidbg-ipam', ranges: [[{subnet: '10.251.0.0/24'}]]},
  }),
)
symlinkSync('/usr/lib/cni', join(work, 'bin'))
symlinkSync(join(ROOT, 'fixtures'), join(work, 'fixtures'))
const checkout = join(work, 'checkout')
mkdirSync(checkout)
for (const entry of readdirSync(ROOT)) if (entry !== '.tap') symlinkSync(join(ROOT, entry), join(checkout, entry))
const SUBSTITUTE: Record<string, [string, string]> = Object.fromEntries(
  [
    'kubectl --kubeconfig /run/cnidbg/lab/lab/kubeconfig get nodes,pods -o wide',
    'kubectl --kubeconfig /run/cnidbg/lab/lab/kubeconfig create service clusterip web --tcp=80:8080',
  ].map((command) => [command, ['/run/cnidbg/lab/lab/', `/run/cnidbg/lab/${lab}/`]]),
)
const env = {
  CNIDBG_LAB: lab,
  // The lab goes with this test process: if it is killed before its teardown, the next run reaps the lab
  // (`lab up --held-by`; scripts/test.sh reaps crashed labs first).
  CNIDBG_LAB_HELD_BY: String(process.pid),
  CNI_PATH: `/usr/lib/cni:${join(ROOT, 'dist', 'plugins')}`,
  PATH: `${shim}:${process.env.PATH}`,
}

const built = existsSync(join(ROOT, 'dist', 'commands', 'exec', 'add.js'))
const linksBefore = await rootLinks()
t.teardown(async () => {
  await labDown({name: lab}).catch(() => undefined)
  rmSync(work, {recursive: true, force: true})
})

t.test(
  'every README example not in SKIPPED runs and does what it says',
  {skip: !built && 'run npm run build first'},
  async (t) => {
    const runnable = examples.filter((e) => !(e.command in SKIPPED))
    const ordered = [...runnable.filter((e) => !LAST.has(e.command)), ...runnable.filter((e) => LAST.has(e.command))]
    const turns = new Map<string, Example[]>()
    for (const e of ordered) {
      const turn = EACH_ALONE.has(e.section) ? `${e.section}: ${e.command}` : (AFTER[e.section] ?? e.section)
      turns.set(turn, [...(turns.get(turn) ?? []), e])
    }
    await t.test('the sections side by side, each one in README order', async (t) => {
      t.jobs = turns.size
      for (const [section, list] of turns) {
        t.test(section, async (t) => {
          for (const e of list) {
            const [from, to] = SUBSTITUTE[e.command] ?? ['', '']
            const command = from ? e.command.replace(from, to) : e.command
            const r = await run('sh', ['-c', command], {
              cwd: IN_REPO.has(e.command) ? checkout : work,
              env,
              timeoutMs: 900_000,
            })
            const want = EXIT[e.command] ?? 0
            t.equal(r.exitCode, want, `${e.section}: ${command} exits ${want}`, {stderr: r.stderr.slice(-2000)})
            CHECK[e.command]?.(t, r)
          }
        })
      }
    })
    t.same(
      listNetns().filter((n) => n.startsWith(labNetnsPrefix(lab))),
      [],
      "lab down removed the lab's namespaces",
    )
    // Other processes on this machine may change the root namespace meanwhile: hold this run to what
    // its examples could have made there (the bridge their configs name), and show the rest.
    const added = (await rootLinks()).filter((l) => !linksBefore.includes(l))
    t.notOk(
      added.some((l) => l.startsWith('cnidbg-br0 ')),
      'the examples left no bridge in the root namespace',
    )
    if (added.length > 0) t.comment(`root links added by someone meanwhile: ${added.join(', ')}`)
  },
)

t.test('what is not run, and why', async (t) => {
  for (const [command, why] of Object.entries(SKIPPED)) t.comment(`skipped: ${command}: ${why}`)
  t.equal(
    examples.filter((e) => !(e.command in SKIPPED)).length + Object.keys(SKIPPED).length,
    examples.length,
    'every example is run or skipped with a reason',
  )
})
