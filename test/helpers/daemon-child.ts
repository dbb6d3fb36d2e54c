// The node daemon as its own process for test/daemon/http-crash.ts, through runNodeDaemon (what
// `cnidbg ref daemon` runs): argv is node name, kubeconfig, state dir, netns. It logs to stderr.
import {join} from 'node:path'

import {runNodeDaemon} from '../../src/daemon/daemon.js'

const [node, kubeconfigPath, stateDir, netns] = process.argv.slice(2)
await runNodeDaemon({
  nodeName: node,
  mode: 'vxlan',
  kubeconfigPath,
  netns,
  hostNetwork: false,
  iface: 'eth0',
  clusterCidr: '10.244.0.0/16',
  subnetFile: join(stateDir, 'subnet.env'),
  stateDir,
  listen: '127.0.0.1:0',
  once: false,
  log: (level, msg) => process.stderr.write(`${level} ${msg}\n`),
})
