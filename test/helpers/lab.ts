// Test helpers for the lab: bundle the lab's background programs (API server, supervisor) and the
// reference plugins from the sources as they are (a concurrent `npm run build` wiping dist/ can't pull
// them away, a test never runs a stale build, and no TypeScript loader is needed in the background
// processes), plus small helpers to run things inside lab namespaces.
import {createHash} from 'node:crypto'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
} from 'node:fs'
import {join, relative} from 'node:path'

import {build, version as esbuildVersion} from 'esbuild'

import {run, runOk, type RunResult} from '../../src/process/exec.js'
import {netnsPath, runInNetns} from '../../src/netns/netns.js'
import {libexecIn, type Libexec} from '../../src/lab/processes.js'

export const REPO = join(import.meta.dirname, '..', '..')

export interface Tap {
  teardown(fn: () => unknown): void
}

/** A lab name no other test file uses: t + 4 random hex digits. */
export function testLabName(): string {
  return `t${Math.random().toString(16).slice(2, 6)}`
}

/**
 * Bundles TypeScript entry points (repository paths, with their src/ imports) into `dir` as plain
 * `<name>.mjs` files node can run with no TypeScript loader.
 */
export async function bundleTo(dir: string, entries: Record<string, string>): Promise<void> {
  await build({
    entryPoints: Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, join(REPO, v)])),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    outdir: dir,
    outExtension: {'.js': '.mjs'},
    logLevel: 'warning',
    // Bundled CommonJS dependencies (the Kubernetes client's) call require().
    banner: {
      js: "import {createRequire as __cnidbgRequire} from 'node:module'; const require = __cnidbgRequire(import.meta.url);",
    },
  })
}

/** Where bundled lab programs are kept between test files and runs (gone with node_modules, as with `npm ci`). */
const LIBEXEC_CACHE = join(REPO, 'node_modules', '.cache', 'cnidbg-test-libexec')

/** What a bundle is made of: every file under these (path and content), and these files. */
const BUNDLE_INPUTS = {dirs: ['src', 'test/helpers'], files: ['scripts/bundle-plugins.mjs', 'package-lock.json']}

/** A key for the bundle of `entries` from the sources as they are now, and esbuild's version. */
function bundleKey(entries: Record<string, string>): string {
  const hash = createHash('sha256').update(JSON.stringify([esbuildVersion, entries]))
  const add = (file: string) => hash.update(`\0${relative(REPO, file)}\0`).update(readFileSync(file))
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, {withFileTypes: true}).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.isDirectory()) walk(join(dir, e.name))
      else if (e.isFile()) add(join(dir, e.name))
    }
  }
  for (const d of BUNDLE_INPUTS.dirs) walk(join(REPO, d))
  for (const f of BUNDLE_INPUTS.files) if (existsSync(join(REPO, f))) add(join(REPO, f))
  return hash.digest('hex').slice(0, 32)
}

/** Bundles a day unused are removed when a new one is made (a run of the suite uses one). */
const STALE_MS = 24 * 3600_000

/**
 * The directory holding apiserver-main.mjs, supervisor-main.mjs, forwarder-main.mjs, plugins/ and
 * `more` (bundleTo's form), bundled from the sources as they are now. Bundling them (the Kubernetes
 * client is most of it) cost each lab test file about 2 s of CPU, so every test file (and run) with
 * the same sources shares one bundle, like the test loader's transpiled files. It is built in a temp
 * dir beside its place and renamed there, so no reader sees half of one; a file that loses the race
 * to another uses the winner's. Nothing writes into it: the lab copies the plugins out of it.
 */
async function cachedLabLibexec(more: Record<string, string>): Promise<string> {
  const entries = {
    'apiserver-main': 'src/lab/apiserver/main.ts',
    'supervisor-main': 'src/lab/supervisor-main.ts',
    'forwarder-main': 'src/lab/forwarder-main.ts',
    ...more,
  }
  const key = bundleKey(entries)
  const dir = join(LIBEXEC_CACHE, key)
  if (existsSync(dir)) {
    const now = new Date()
    utimesSync(dir, now, now)
    return dir
  }
  mkdirSync(LIBEXEC_CACHE, {recursive: true})
  const tmp = mkdtempSync(join(LIBEXEC_CACHE, `.${key}-`))
  try {
    await Promise.all([
      runOk(process.execPath, [join(REPO, 'scripts/bundle-plugins.mjs'), '--out-dir', join(tmp, 'plugins')], {
        timeoutMs: 300_000,
      }),
      bundleTo(tmp, entries),
    ])
    renameSync(tmp, dir)
  } catch (error) {
    rmSync(tmp, {recursive: true, force: true})
    // Another test file made the same bundle meanwhile (the rename found it in place): use that one.
    if (!existsSync(dir)) throw error
  }
  for (const e of readdirSync(LIBEXEC_CACHE)) {
    const path = join(LIBEXEC_CACHE, e)
    if (e !== key && Date.now() - statSync(path).mtimeMs > STALE_MS) rmSync(path, {recursive: true, force: true})
  }
  return dir
}

/**
 * The lab's programs, bundled from the sources (cachedLabLibexec), with `more` entry points (bundleTo's
 * form) beside them.
 */
export async function bundleLabLibexec(more: Record<string, string> = {}): Promise<Libexec> {
  // deploy/'s pods run the CLI itself (node-pods.ts), so that comes from the build (dist/).
  return libexecIn(await cachedLabLibexec(more))
}

/** Runs a program in a named namespace (nsenter), bounded in time. */
export function inNetns(netns: string, file: string, args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return runInNetns(netnsPath(netns), file, args, {timeoutMs})
}

/** One ping from a namespace; true when a reply came back. */
export async function pingOk(netns: string, ip: string, extra: string[] = []): Promise<boolean> {
  const r = await inNetns(netns, 'ping', ['-c', '1', '-W', '2', ...extra, ip])
  return r.exitCode === 0
}

/**
 * One ping that gets no reply within a second: for a path a fault must have broken. A reply between
 * namespaces of this machine takes well under a millisecond, and a dead path waits out the whole
 * wait, so it is shorter than the one pingOk gives a path that must work.
 */
export async function pingFails(netns: string, ip: string, extra: string[] = []): Promise<boolean> {
  const r = await inNetns(netns, 'ping', ['-c', '1', '-W', '1', ...extra, ip])
  return r.exitCode !== 0
}

/** Pings until one reply comes back (ARP and a fresh route may eat the first), up to `tries`. */
export async function pingEventually(netns: string, ip: string, tries = 5, extra: string[] = []): Promise<boolean> {
  for (let i = 0; i < tries; i++) if (await pingOk(netns, ip, extra)) return true
  return false
}

/**
 * TCP: a one-shot nc listener in `server` on `listenPort`, a client in `client` sending it one line to
 * `serverIp:port` (a Service's ClusterIP and port, DNATed to the listener's, or the pod's own).
 */
export async function tcpOk(
  client: string,
  server: string,
  serverIp: string,
  port = 7000 + Math.floor(Math.random() * 1000),
  listenPort = port,
): Promise<boolean> {
  // The client sends and the listener prints what it read until the client's FIN: the line comes before
  // the FIN in one stream, so a working path always delivers it. (The other way round, a listener that
  // answers could see the client's FIN first and quit before writing, which failed working paths.)
  let listening = true
  const listener = runInNetns(netnsPath(server), 'nc', ['-l', String(listenPort)], {
    input: '',
    timeoutMs: 60_000,
  }).finally(() => (listening = false))
  // The listener binds at some point after it is started (later on a loaded machine): retry the
  // connect until one is taken, or a deadline that only a failure ever reaches.
  const deadline = Date.now() + 45_000
  while (listening && Date.now() < deadline) {
    const r = await run('ip', ['netns', 'exec', client, 'nc', '-N', '-w', '5', serverIp, String(port)], {
      input: 'cnidbg-hello\n',
      timeoutMs: 15_000,
    })
    if (r.exitCode === 0) break
    await new Promise((res) => setTimeout(res, 200))
  }
  // A listener that never got a connection ends at its own timeout.
  const served = await listener
  const ok = served.stdout.includes('cnidbg-hello')
  if (!ok)
    console.error(
      `tcpOk ${client} → ${serverIp}:${port}: listener exit ${served.exitCode ?? served.signal}, read ${JSON.stringify(served.stdout)}: ${served.stderr.trim()}`,
    )
  return ok
}
