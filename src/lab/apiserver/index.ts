/** The lab apiserver: a Kubernetes API (Nodes, Pods, Namespaces, Services, EndpointSlices, NetworkPolicies…) for kubectl and client-node. */
export {startApiServer, isLoopback, type ApiServer, type ApiServerOptions} from './server.js'
export {
  Store,
  type StoreEvent,
  type StoreOptions,
  type WatchEvent,
  type WatchOptions,
  type ListOptions,
  type ListResult,
  type Selection,
} from './store.js'
export {kubeconfigYaml, writeKubeconfig, type KubeconfigOptions} from './kubeconfig.js'
export {ApiError, type Status} from './status.js'
export {RESOURCES, type K8sObject, type ObjectMeta, type ResourceName} from './resources.js'
