// Bundles the tests share between test files and runs: made from the sources as they are now, kept in
// node_modules/.cache (gone with node_modules, as with `npm ci`) under a key of everything a bundle is
// made of. Bundling costs a test file seconds of CPU (the reference plugins about 2 s, the lab's
// programs more: the Kubernetes client is most of them), and dozens of files need the same ones.
import {createHash} from 'node:crypto'
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import {join, relative} from 'node:path'

import {version as esbuildVersion} from 'esbuild'

import {runOk} from '../../src/process/exec.js'

const REPO = join(import.meta.dirname, '..', '..')

export const CACHE = join(REPO, 'node_modules', '.cache', 'cnidbg-test-libexec')

/** What a bundle is made of: every file under these (path and content), and these files. */
const INPUTS = {dirs: ['src', 'test/helpers'], files: ['scripts/bundle-plugins.mjs', 'package-lock.json']}

/** Bundles a day unused are removed when a new one is made (a run of the suite uses a few). */
const STALE_MS = 24 * 3600_000

/** A key for the bundle `what` from the sources as they are now, and esbuild's version. */
export function bundleKey(what: unknown): string {
  const hash = createHash('sha256').update(JSON.stringify([esbuildVersion, what]))
  const add = (file: string) => hash.update(`\0${relative(REPO, file)}\0`).update(readFileSync(file))
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, {withFileTypes: true}).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.isDirectory()) walk(join(dir, e.name))
      else if (e.isFile()) add(join(dir, e.name))
    }
  }
  for (const d of INPUTS.dirs) walk(join(REPO, d))
  for (const f of INPUTS.files) if (existsSync(join(REPO, f))) add(join(REPO, f))
  return hash.digest('hex').slice(0, 32)
}

/**
 * The cached directory `make` fills for `what` (any JSON value naming the bundle and its entries). It is
 * made in a temp dir beside its place and renamed there, so no reader sees half of one. One test file
 * makes it while the others that need it wait (bundleLock): on a fresh checkout the files that start
 * together all need the same bundles, and each making its own copy cost the run seconds of CPU apiece.
 * Nothing may write into it: copy out of it.
 */
export async function cachedBundle(what: unknown, make: (dir: string) => Promise<void>): Promise<string> {
  const key = bundleKey(what)
  const dir = join(CACHE, key)
  const ready = (): string | undefined => {
    if (!existsSync(dir)) return undefined
    const now = new Date()
    utimesSync(dir, now, now)
    return dir
  }
  const made = ready() ?? (await bundleLock(join(CACHE, `.${key}.lock`), ready))
  if (typeof made === 'string') return made
  const tmp = mkdtempSync(join(CACHE, `.${key}-`))
  try {
    await make(tmp)
    renameSync(tmp, dir)
  } catch (error) {
    rmSync(tmp, {recursive: true, force: true})
    // Another test file made the same bundle meanwhile (one that found the lock stale): use that one.
    if (!existsSync(dir)) throw error
  } finally {
    made.release()
  }
  for (const e of readdirSync(CACHE)) {
    const path = join(CACHE, e)
    if (e !== key && Date.now() - statSync(path).mtimeMs > STALE_MS) rmSync(path, {recursive: true, force: true})
  }
  return dir
}

/** How long a file waits for another's bundle before making its own: far beyond any bundle's time. */
const LOCK_WAIT_MS = 300_000

/**
 * Either the bundle `ready` found once another process made it, or the lock at `path` (a file holding
 * our pid, created exclusively) for this process to make it. A lock whose process is gone (a killed
 * run's) is taken over; one held past `waitMs` is ignored, so a stuck process can't hang the suite.
 */
export async function bundleLock(
  path: string,
  ready: () => string | undefined,
  waitMs = LOCK_WAIT_MS,
): Promise<string | {release: () => void}> {
  mkdirSync(CACHE, {recursive: true})
  const deadline = Date.now() + waitMs
  for (;;) {
    try {
      writeFileSync(path, String(process.pid), {flag: 'wx'})
      // The holder before us may have finished between our look and our lock.
      const found = ready()
      if (found) rmSync(path, {force: true})
      return found ?? {release: () => rmSync(path, {force: true})}
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    const found = ready()
    if (found) return found
    const holder = Number(readFileSafe(path))
    // A pid not yet written (the holder is between its create and its write) reads as 0: wait for it.
    if ((holder > 0 && !existsSync(`/proc/${holder}`)) || Date.now() > deadline) rmSync(path, {force: true})
    else await new Promise((r) => setTimeout(r, 100))
  }
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return ''
  }
}

/** The reference plugins as scripts/bundle-plugins.mjs builds them, cached (read only: copy them out). */
export function cachedPlugins(): Promise<string> {
  return cachedBundle('plugins', (dir) =>
    runOk(process.execPath, [join(REPO, 'scripts/bundle-plugins.mjs'), '--out-dir', dir], {timeoutMs: 300_000}).then(
      () => undefined,
    ),
  )
}

/** A copy of the cached plugins into `dir` (made if missing), which the caller may change. */
export async function copyPlugins(dir: string): Promise<void> {
  cpSync(await cachedPlugins(), dir, {recursive: true})
}
