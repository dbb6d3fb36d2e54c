import {realpathSync, statSync} from 'node:fs'
import {dirname, join} from 'node:path'

import {liteRun} from '../process/lite-exec.js'
import {CniError, CODE} from './errors.js'
import {ipamPlugin} from './ipam/plugin.js'
import {fromWire} from './result.js'
import {runPlugin, type Ctx, type Outcome} from './skel.js'
import type {Result} from './types.js'

export const BUILTIN_IPAM = 'cnidbg-ipam'

/** SPEC §4 "Delegated plugin execution procedure": the first regular file named `type` in CNI_PATH. */
export function findInPath(type: string, path: readonly string[]): string | undefined {
  for (const dir of path) {
    const candidate = join(dir, type)
    try {
      if (statSync(candidate).isFile()) return candidate
    } catch {
      // keep looking
    }
  }
  return undefined
}

function real(p: string): string | undefined {
  try {
    return realpathSync(p)
  } catch {
    return undefined
  }
}

/**
 * True when `found` is the cnidbg-ipam shipped next to this very executable: then running it
 * in-process behaves identically (same code, same env, same stdin) and saves a second Node start-up.
 * Any other binary, even one named cnidbg-ipam, is exec'd as the protocol says.
 */
function isOurSibling(found: string, env: NodeJS.ProcessEnv): boolean {
  if (env.CNIDBG_REF_DELEGATE === 'exec') return false
  const target = real(found)
  if (!target) return false
  const selves = [process.argv[1], process.execPath].filter((p): p is string => Boolean(p))
  return selves.some((self) => {
    const me = real(self)
    return me !== undefined && real(join(dirname(me), BUILTIN_IPAM)) === target
  })
}

function interpret(type: string, verb: string, out: Outcome, stderr = ''): Result | undefined {
  let parsed: unknown
  try {
    parsed = out.stdout.trim() ? JSON.parse(out.stdout) : undefined
  } catch {
    parsed = undefined
  }
  if (out.exitCode !== 0) {
    const e = parsed as {code?: unknown; msg?: unknown; details?: unknown} | undefined
    if (e && typeof e.code === 'number') {
      // Pass the delegate's own code through (SPEC §4: its error is returned by the upper plugin).
      const details = typeof e.details === 'string' ? e.details : undefined
      throw new CniError(e.code, `IPAM plugin ${type} ${verb}: ${String(e.msg ?? 'failed')}`, details)
    }
    throw new CniError(
      CODE.DELEGATE_FAILED,
      `IPAM plugin ${type} ${verb} failed with exit ${out.exitCode} and no error object`,
      stderr.trim() || out.stdout.trim() || undefined,
    )
  }
  if (verb !== 'ADD') return undefined
  if (parsed === undefined) throw new CniError(CODE.DELEGATE_FAILED, `IPAM plugin ${type} ADD printed no result`)
  return fromWire(parsed, `the ${type} result`)
}

/**
 * Runs the IPAM plugin for `verb` with our environment (only CNI_COMMAND changed) and our complete
 * stdin (SPEC §4; checklist P103, P104). Its stderr goes to ours (P105).
 */
export async function delegateIpam(ctx: Ctx, type: string, verb: string): Promise<Result | undefined> {
  const env = {...ctx.args.env, CNI_COMMAND: verb}
  const found = findInPath(type, ctx.args.path)
  // Without any CNI_PATH (optional in SPEC §2) our own IPAM still runs: DEL must release addresses.
  const inProcess = type === BUILTIN_IPAM && (found ? isOurSibling(found, ctx.args.env) : ctx.args.path.length === 0)
  if (inProcess) {
    return interpret(type, verb, await runPlugin(ipamPlugin, env, ctx.stdin))
  }
  if (!found) {
    throw new CniError(
      CODE.INVALID_ENV,
      `IPAM plugin "${type}" not found in CNI_PATH`,
      `CNI_PATH is "${ctx.args.path.join(':')}"; install ${type} there or fix ipam.type`,
    )
  }
  const r = await liteRun(found, [], {env, input: ctx.stdin, stderr: ctx.onStderr ? 'pipe' : 'inherit'})
  if (ctx.onStderr && r.stderr) ctx.onStderr(r.stderr)
  if (r.spawnError) throw new CniError(CODE.DELEGATE_FAILED, `cannot run IPAM plugin ${found}`, r.spawnError)
  return interpret(type, verb, {stdout: r.stdout, exitCode: r.exitCode ?? 1}, r.stderr)
}
