/**
 * Runs several small scripts, each in its own network namespace, from ONE spawned process. Node's
 * spawn is synchronous on the event loop and costs 1–200 ms depending on machine load; a trace needs
 * ~6 namespace jobs (4 state reads, 2 probe scripts), so one outer `sh` that forks them all in
 * parallel (nsenter … &; wait) is what keeps a trace fast on a busy node. Each job's script and
 * arguments are written to a private temp dir (never spliced into a command line); its stdout,
 * stderr and exit code come back through files there.
 */
import {readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {shellQuote as shq} from '../core/quote.js'
import {inNetnsArgv, onCleanup, run} from '../netns/index.js'
import {makeTempDir} from '../process/temp-dir.js'

export interface NsJob {
  /** A path nsenter accepts. */
  nsPath: string
  /** POSIX sh; gets `args` as $1…$n. */
  script: string
  args?: readonly string[]
}

export interface NsJobResult {
  stdout: string
  stderr: string
  exitCode: number | null
}

/** A private temp dir that is removed on Ctrl-C too; call `remove()` when done. */
export function tempDir(prefix: string): {path: string; remove: () => void} {
  const path = makeTempDir(prefix)
  const unregister = onCleanup(`remove ${path}`, () => rmSync(path, {recursive: true, force: true}))
  return {
    path,
    remove: () => {
      rmSync(path, {recursive: true, force: true})
      unregister()
    },
  }
}

/**
 * Runs the jobs in parallel, one outer process. `dir` (optional) is a directory the caller shares
 * with its scripts (e.g. for probe coordination files); otherwise a temp dir is made and removed.
 */
export async function runJobsInNetns(
  jobs: readonly NsJob[],
  opts: {timeoutMs?: number; dir?: string} = {},
): Promise<NsJobResult[]> {
  if (!jobs.length) return []
  const own = opts.dir ? undefined : tempDir('cnidbg-jobs-')
  const dir = opts.dir ?? own!.path
  try {
    const lines: string[] = []
    jobs.forEach((job, i) => {
      const file = join(dir, `job${i}`)
      writeFileSync(file + '.sh', `set -- ${(job.args ?? []).map(shq).join(' ')}\n${job.script}\n`)
      // No subshell per job: nsenter execs sh directly; `wait <pid>` collects each exit code.
      lines.push(
        `${inNetnsArgv({path: job.nsPath}, ['sh', file + '.sh'])
          .map(shq)
          .join(' ')} > ${shq(file + '.out')} 2> ${shq(file + '.err')} & p${i}=$!`,
      )
    })
    jobs.forEach((_, i) => lines.push(`wait $p${i}; echo $? > ${shq(join(dir, `job${i}.rc`))}`))
    await run('sh', ['-c', lines.join('\n')], {timeoutMs: opts.timeoutMs ?? 20_000})
    return jobs.map((_, i) => {
      const file = join(dir, `job${i}`)
      const read = (ext: string) => {
        try {
          return readFileSync(`${file}.${ext}`, 'utf8')
        } catch {
          return ''
        }
      }
      const rc = read('rc').trim()
      return {stdout: read('out'), stderr: read('err'), exitCode: rc === '' ? null : Number(rc)}
    })
  } finally {
    own?.remove()
  }
}
