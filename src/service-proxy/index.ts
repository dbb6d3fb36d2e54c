/** A node's service proxy in kube-proxy's iptables-mode layout (README.md). */
export {buildModel, servicePortName, type ProxyModel, type ServicePort, type Endpoint} from './model.js'
export {buildRules, parseExisting, serviceChain, endpointChain, type Existing} from './rules.js'
export {renderRestore, restoreWord, restoreLine, type RestoreTable} from './restore.js'
export {
  ApiProxySource,
  ServiceProxy,
  refuseRootNetns,
  type ProxySource,
  type ServiceProxyOptions,
  type ServiceProxyStatus,
} from './proxy.js'
