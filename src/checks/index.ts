import type {Check} from './check.js'
import {addExistingIfnameFails} from './add-existing-ifname-fails.js'
import {addKernelMatchesResult} from './add-kernel-matches-result.js'
import {addResultSchema} from './add-result-schema.js'
import {checkAfterAdd} from './check-after-add.js'
import {checkDetectsTampering} from './check-detects-tampering.js'
import {concurrencyParallelAdd} from './concurrency-parallel-add.js'
import {delIdempotent} from './del-idempotent.js'
import {delNetnsGone} from './del-netns-gone.js'
import {delNoLeaks} from './del-no-leaks.js'
import {delWithoutAdd} from './del-without-add.js'
import {delWithoutPrevResult} from './del-without-prevresult.js'
import {envIfnameTooLong} from './env-ifname-too-long.js'
import {errorMalformedConfig} from './error-malformed-config.js'
import {ioFraming} from './io-framing.js'
import {versionOutput} from './version-output.js'
import {versionUnsupportedRejected} from './version-unsupported-rejected.js'

/** Every check, in report order (by spec area). */
export const allChecks: readonly Check[] = [
  ioFraming,
  envIfnameTooLong,
  versionOutput,
  versionUnsupportedRejected,
  addResultSchema,
  addKernelMatchesResult,
  addExistingIfnameFails,
  errorMalformedConfig,
  delIdempotent,
  delWithoutAdd,
  delNetnsGone,
  delWithoutPrevResult,
  delNoLeaks,
  checkAfterAdd,
  checkDetectsTampering,
  concurrencyParallelAdd,
]
