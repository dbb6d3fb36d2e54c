/** `cnidbg trace`: the engine, its input/output model, readers, resolution and renderers. */
export {traceBetween} from './engine.js'
export {
  LocalKernelReader,
  RemoteDiagReader,
  snapshotFromDiag,
  type KernelReader,
  type KernelSnapshot,
} from './reader.js'
export {
  endpointFromPod,
  findNetnsByIP,
  findNetnsByIPs,
  listNetnsCandidates,
  resolveFromCluster,
  topologyFromNodes,
} from './resolve.js'
export * from './types.js'
