/** `cnidbg trace`: the engine, its input/output model, readers, resolution and renderers. */
export {traceBetween} from './engine.js'
export {LocalKernelReader, type KernelReader, type KernelSnapshot} from '../kernel/reader.js'
export {findNetnsByIP, findNetnsByIPs, listNetnsCandidates} from '../kernel/netns-scan.js'
export {RemoteDiagReader, snapshotFromDiag} from './diag-reader.js'
export {endpointFromPod, resolveFromCluster, topologyFromNodes} from './resolve.js'
export * from './types.js'
