/** `cnidbg lab down`: removes a lab completely, whatever state it is in; reaps crashed labs too. */
import {existsSync} from 'node:fs'

import {UsageError} from '../core/errors.js'
import {requireEnvironment} from '../netns/preflight.js'
import {labHealth, type LabHealth, pickLab, reapCrashedLabs, type ReapedLab, teardownLab} from './lifecycle.js'
import {labNamespaces} from './network.js'
import {DEFAULT_LAB_NAME, labDir, validateLabName} from './names.js'
import {procAlive, readLabState} from './state.js'

export interface LabDownOptions {
  name?: string
}

export interface LabDownResult {
  name: string
  /** Whether there was anything of that lab to remove. */
  found: boolean
  /** What the lab was before: running, or crashed (its processes had died). */
  was?: LabHealth
  removed: string[]
  /** Other crashed labs removed on the way. */
  reaped: ReapedLab[]
}

export async function labDown(opts: LabDownOptions = {}): Promise<LabDownResult> {
  const name = validateLabName(pickLab(opts.name, {none: DEFAULT_LAB_NAME}))
  requireEnvironment(['ip'])
  const state = readLabState(name)
  if (
    state &&
    (state.phase === 'starting' || state.phase === 'stopping') &&
    procAlive(state.owner) &&
    state.owner?.pid !== process.pid
  ) {
    throw new UsageError(
      `Lab ${name} is being ${state.phase === 'starting' ? 'started' : 'removed'} by pid ${state.owner!.pid}.`,
      {
        code: 'LAB_BUSY',
        suggestions: [
          state.phase === 'starting'
            ? 'Interrupt that `lab up` (Ctrl-C): it removes what it made.'
            : 'Wait for it to finish.',
        ],
      },
    )
  }
  const was = state ? labHealth(state) : undefined
  const found = Boolean(state) || existsSync(labDir(name)) || labNamespaces(name).length > 0
  const removed = found ? await teardownLab(name) : []
  const reaped = (await reapCrashedLabs()).filter((r) => r.name !== name)
  return {name, found, was, removed, reaped}
}
