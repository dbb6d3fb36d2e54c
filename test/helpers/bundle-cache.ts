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
} from 'node:fs'
import {join, relative} from 'node:path'

import {version as esbuildVersion} from 'esbuild'

import {runOk} from '../../src/process/exec.js'

const REPO = join(import.meta.dirname, '..', '..')

const CACHE = join(REPO, 'node_modules', '.cache', 'cnidbg-test-libexec')

/** What a bundle is made of: every file under these (path and content), and these files. */
const INPUTS = {dirs: ['src', 'test/helpers'], files: ['scripts/bundle-plugins.mjs', 'package-lock.json']}

/** Bundles a day unused are removed when a new one is made (a run of the suite uses a few). */
const STALE_MS = 24 * 3600_000

/** A key for the bundle `what` from the sources as they are now, and esbuild's version. */
function bundleKey(what: unknown): string {
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
 * made in a temp dir beside its place and renamed there, so no reader sees half of one; a test file
 * that loses the race to another uses the winner's. Nothing may write into it: copy out of it.
 */
export async function cachedBundle(what: unknown, make: (dir: string) => Promise<void>): Promise<string> {
  const key = bundleKey(what)
  const dir = join(CACHE, key)
  if (existsSync(dir)) {
    const now = new Date()
    utimesSync(dir, now, now)
    return dir
  }
  mkdirSync(CACHE, {recursive: true})
  const tmp = mkdtempSync(join(CACHE, `.${key}-`))
  try {
    await make(tmp)
    renameSync(tmp, dir)
  } catch (error) {
    rmSync(tmp, {recursive: true, force: true})
    // Another test file made the same bundle meanwhile (the rename found it in place): use that one.
    if (!existsSync(dir)) throw error
  }
  for (const e of readdirSync(CACHE)) {
    const path = join(CACHE, e)
    if (e !== key && Date.now() - statSync(path).mtimeMs > STALE_MS) rmSync(path, {recursive: true, force: true})
  }
  return dir
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
