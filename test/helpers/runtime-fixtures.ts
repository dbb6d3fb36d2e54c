/**
 * The runtime test fixtures (test/fixtures-runtime): config lists for the upstream plugins and the
 * test plugins in bin/ (cnidbg-spy records calls, cnidbg-sleep hangs, cnidbg-flood floods stdout,
 * cnidbg-deep nests its result 20,000 levels deep, cnidbg-wide lists 3,300 problems, cnidbg-escaper
 * leaves a process holding its output, cnidbg-escapes fails with terminal escape sequences).
 */
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {Test} from 'tap'

import type {ExecOptions} from '../../src/services/exec.js'

export const FIXTURES = fileURLToPath(new URL('../fixtures-runtime/', import.meta.url))
export const FIXTURE_BIN = join(FIXTURES, 'bin')
export const UPSTREAM = '/usr/lib/cni'
/** Our test plugins first, then Debian's upstream plugins. */
export const CNI_PATH = [FIXTURE_BIN, UPSTREAM]

export type Conf = {cniVersion?: string; name: string; plugins: Array<Record<string, unknown>>; [k: string]: unknown}

export function fixtureConf(file: string): Conf {
  return JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as Conf
}

export function writeConf(dir: string, name: string, conf: unknown): string {
  const path = join(dir, name)
  writeFileSync(path, typeof conf === 'string' ? conf : JSON.stringify(conf, null, 2))
  return path
}

/** A temp dir for this test's configs and spy logs, removed at teardown. */
export function workDir(t: Test): string {
  const dir = mkdtempSync('/tmp/cnidbgtest-work-')
  t.teardown(() => rmSync(dir, {force: true, recursive: true}))
  return dir
}

export function spy(logFile: string, tag: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {logFile, tag, type: 'cnidbg-spy', ...extra}
}

export interface SpyCall {
  tag: string
  command: string
  env: Record<string, string>
  request: Record<string, unknown> & {prevResult?: Record<string, unknown>}
}

export function readSpyLog(logFile: string): SpyCall[] {
  if (!existsSync(logFile)) return []
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as SpyCall)
}

export function execOpts(conf: string, over: Partial<ExecOptions> = {}): ExecOptions {
  return {cniPath: CNI_PATH, conf, ifname: 'eth0', timeoutSeconds: 30, ...over}
}

export const haveUpstream = (...plugins: string[]): boolean => plugins.every((p) => existsSync(join(UPSTREAM, p)))
