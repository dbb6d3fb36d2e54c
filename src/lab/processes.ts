/**
 * The lab's background processes: the API server (src/lab/apiserver/main.ts) and the node supervisor
 * (supervisor-main.ts, which runs every node's daemon and kubelet stand-in). Both run in the root
 * namespace, listen on loopback or a unix socket only, and are started detached through src/netns so
 * they outlive `lab up`.
 */
import {existsSync, readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {EnvironmentError, FailureError} from '../core/errors.js'
import {spawnDetached} from '../process/exec.js'
import {procAlive, procRef, type LabState, type ProcRef} from './state.js'

/** What the lab runs: its entry scripts, the directory holding the built plugins, and deploy/'s. */
export interface Libexec {
  apiserver: string
  supervisor: string
  /** The forwarder run in the underlay namespace (forwarder-main.ts). */
  forwarder: string
  pluginDir: string
  /** The CLI that stands in for the image's `cnidbg` in deploy/'s pods (bin/run.js). */
  cnidbg: string
  /** The manifests `lab up` applies (deploy/). */
  deployDir: string
}

// src/lab and dist/lab are both two levels below the package root, which holds bin/ and deploy/.
const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = join(HERE, '..', '..')
const packageFiles = (): Pick<Libexec, 'cnidbg' | 'deployDir'> => ({
  cnidbg: join(ROOT, 'bin', 'run.js'),
  deployDir: join(ROOT, 'deploy'),
})

/** The lab's programs bundled into one directory (CNIDBG_LAB_LIBEXEC's layout), with the package's CLI and deploy/. */
export function libexecIn(dir: string): Libexec {
  return {
    apiserver: join(dir, 'apiserver-main.mjs'),
    supervisor: join(dir, 'supervisor-main.mjs'),
    forwarder: join(dir, 'forwarder-main.mjs'),
    pluginDir: join(dir, 'plugins'),
    ...packageFiles(),
  }
}

/**
 * Finds the lab's programs. Normally next to this file in dist/ (dist/lab/…, dist/plugins/…). When
 * cnidbg runs from its TypeScript sources, the built copy in dist/ is used. CNIDBG_LAB_LIBEXEC names
 * a directory with `apiserver-main.mjs`, `supervisor-main.mjs` and `plugins/` instead (tests bundle
 * their own, so a concurrent rebuild of dist/ can't pull files away from a running lab).
 */
export function resolveLibexec(override?: Partial<Libexec>): Libexec {
  const dir = process.env.CNIDBG_LAB_LIBEXEC
  let base: Libexec
  if (dir) {
    base = libexecIn(dir)
  } else {
    const fromSource = !existsSync(join(HERE, 'supervisor-main.js'))
    const lab = fromSource ? join(ROOT, 'dist', 'lab') : HERE
    base = {
      apiserver: join(lab, 'apiserver', 'main.js'),
      supervisor: join(lab, 'supervisor-main.js'),
      forwarder: join(lab, 'forwarder-main.js'),
      pluginDir: join(lab, '..', 'plugins'),
      ...packageFiles(),
    }
  }
  const out = {...base, ...override}
  const missing = [out.apiserver, out.supervisor, out.forwarder, out.cnidbg].filter((f) => !existsSync(f))
  if (missing.length > 0) {
    throw new EnvironmentError(`The lab's programs are not built: ${missing.join(', ')} missing.`, {
      code: 'LAB_NOT_BUILT',
      suggestions: [
        'Build cnidbg: npm run build',
        'Or point CNIDBG_LAB_LIBEXEC at a directory with apiserver-main.mjs, supervisor-main.mjs, forwarder-main.mjs and plugins/',
      ],
    })
  }
  return out
}

/**
 * The environment of background processes: a clean one (like a service manager gives), so a parent's
 * NODE_OPTIONS or test-runner hooks don't ride along into every plugin the kubelet stand-ins run.
 */
export function backgroundEnv(): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    LANG: 'C.UTF-8',
  }
  for (const k of ['CNIDBG_DEBUG', 'CNIDBG_LAB_ROOT', 'HOME', 'TMPDIR'])
    if (process.env[k]) env[k] = process.env[k] as string
  return env
}

export function logTail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return ''
  }
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms))
}

/** Starts the API server; `onStarted` gets its pid at once (to be recorded before anything else happens). */
export async function startApiServerProcess(
  state: LabState,
  libexec: Libexec,
  onStarted: (ref: ProcRef) => void,
  timeoutMs = 60_000,
): Promise<string> {
  const a = state.apiserver!
  const pid = spawnDetached(
    process.execPath,
    [
      libexec.apiserver,
      '--port',
      '0',
      '--state',
      a.stateFile,
      // The forwarder in the underlay namespace carries this socket to the nodes (forwarder-main.ts).
      '--socket',
      join(state.dir, 'apiserver.sock'),
      // The file's path, never a token: argv is world-readable in /proc.
      ...(state.auth
        ? [
            '--token-file',
            state.auth.tokenFile,
            '--tls-cert-file',
            state.auth.tlsCert,
            '--tls-private-key-file',
            state.auth.tlsKey,
            ...(state.auth.caCert && state.auth.caKey
              ? ['--cluster-signing-cert-file', state.auth.caCert, '--cluster-signing-key-file', state.auth.caKey]
              : []),
          ]
        : ['--kubeconfig', state.kubeconfig]),
    ],
    {
      env: backgroundEnv(),
      extendEnv: false,
      logFile: a.log,
    },
  )
  const ref = procRef(pid)
  onStarted(ref)
  // main.ts prints its URL on stdout once it listens.
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const url = /^(https?:\/\/127\.0\.0\.1:\d+)\s*$/m.exec(logTail(a.log, 50))?.[1]
    if (url) return url
    if (!procAlive(ref)) {
      throw new FailureError(`The lab API server exited while starting:\n${logTail(a.log)}`, {
        code: 'APISERVER_FAILED',
        suggestions: [`See ${a.log}`],
      })
    }
    if (Date.now() > deadline) {
      throw new FailureError(`The lab API server did not come up within ${timeoutMs / 1000}s.`, {
        code: 'APISERVER_TIMEOUT',
        suggestions: [`See ${a.log}`],
      })
    }
    // Reading the log's tail is cheap; the URL is there a few milliseconds after the server listens.
    await sleep(25)
  }
}

/** Starts the node supervisor (daemons and kubelet stand-ins for every node). */
export function startSupervisorProcess(state: LabState, libexec: Libexec): ProcRef {
  const s = state.supervisor!
  const pid = spawnDetached(process.execPath, [libexec.supervisor, '--dir', state.dir], {
    env: backgroundEnv(),
    extendEnv: false,
    logFile: s.log,
  })
  return procRef(pid)
}
