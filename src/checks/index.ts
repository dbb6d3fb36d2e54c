import type {Check} from './check.js'
import {argsIpsPrecedence} from './args-ips-precedence.js'
import {argsKubeletStyle} from './args-kubelet-style.js'
import {capsWithoutRuntimeConfig} from './caps-without-runtime-config.js'
import {chainPrevResult} from './chain-prevresult.js'
import {configToleratesExtraKeys} from './config-tolerates-extra-keys.js'
import {delInterfaceGone} from './del-interface-gone.js'
import {envMinimalEnvironment} from './env-minimal-environment.js'
import {envMissingVariables} from './env-missing-variables.js'
import {envNetnsProcPath} from './env-netns-proc-path.js'
import {envUnusualContainerId} from './env-unusual-container-id.js'
import {errorBadSubnet} from './error-bad-subnet.js'
import {errorUnsupportedField} from './error-unsupported-field.js'
import {gcCleansLeaked} from './gc-cleans-leaked.js'
import {ipamLeavesNetnsAlone} from './ipam-leaves-netns-alone.js'
import {isolationDelLeavesOthers} from './isolation-del-leaves-others.js'
import {statusReady} from './status-ready.js'
import {addExistingIfnameFails} from './add-existing-ifname-fails.js'
import {addKernelMatchesResult} from './add-kernel-matches-result.js'
import {addResultSchema} from './add-result-schema.js'
import {checkAfterAdd} from './check-after-add.js'
import {checkDetectsTampering} from './check-detects-tampering.js'
import {concurrencyParallelAdd} from './concurrency-parallel-add.js'
import {delegationProtocol} from './delegation-protocol.js'
import {delIdempotent} from './del-idempotent.js'
import {delNetnsGone} from './del-netns-gone.js'
import {delNoLeaks} from './del-no-leaks.js'
import {delWithoutAdd} from './del-without-add.js'
import {delWithoutPrevResult} from './del-without-prevresult.js'
import {envIfnameTooLong} from './env-ifname-length.js'
import {errorMalformedConfig} from './error-malformed-config.js'
import {ioFraming} from './io-framing.js'
import {versionOutput} from './version-output.js'
import {versionUnsupportedRejected} from './version-unsupported-rejected.js'

/** Every check, in report order (by spec area). */
export const allChecks: readonly Check[] = [
  ioFraming,
  envIfnameTooLong,
  envMissingVariables,
  envUnusualContainerId,
  envMinimalEnvironment,
  envNetnsProcPath,
  configToleratesExtraKeys,
  versionOutput,
  versionUnsupportedRejected,
  addResultSchema,
  addKernelMatchesResult,
  addExistingIfnameFails,
  chainPrevResult,
  delegationProtocol,
  ipamLeavesNetnsAlone,
  errorMalformedConfig,
  errorBadSubnet,
  errorUnsupportedField,
  delIdempotent,
  delWithoutAdd,
  delNetnsGone,
  delInterfaceGone,
  delWithoutPrevResult,
  delNoLeaks,
  checkAfterAdd,
  checkDetectsTampering,
  statusReady,
  gcCleansLeaked,
  concurrencyParallelAdd,
  isolationDelLeavesOthers,
  capsWithoutRuntimeConfig,
  argsKubeletStyle,
  argsIpsPrecedence,
]
