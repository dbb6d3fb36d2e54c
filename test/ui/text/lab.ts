import t from 'tap'

import type {LabStatusResult} from '../../../src/lab/status.js'
import {renderStatus} from '../../../src/ui/text/lab.js'

// What `lab status` reads from the lab's programs: their health answers and problems.
const status = (problem: string): LabStatusResult =>
  ({
    apiserver: {pid: 10, reachable: true, running: true, url: 'https://127.0.0.1:6443'},
    createdAt: '2026-12-06T00:00:00Z',
    faults: [],
    health: 'degraded',
    kubeconfig: '/run/cnidbg/lab/x/kubeconfig',
    mode: 'vxlan',
    name: 'x',
    nodes: [
      {
        agent: {healthy: false, problem},
        daemon: {healthy: false, problem},
        kubelet: {running: true, synced: true},
        name: 'node1',
        netns: 'cnidbg-lab-x-node1',
        netnsExists: true,
        nodeIP: '198.18.0.2',
        podCIDR: '10.244.1.0/24',
      },
    ],
    pods: [],
    problems: [problem],
    supervisor: {pid: 11, reachable: true, running: true},
    topology: '/run/cnidbg/lab/x/lab.json',
  }) as unknown as LabStatusResult

t.test('lab status: what the lab programs answered never drives the terminal', async (t) => {
  const out = renderStatus(status('agent said \u001b[2K\u001b]52;c;aGVsbG8=\u0007gone\r')).join('\n')
  // eslint-disable-next-line no-control-regex -- those characters are what this looks for
  t.notMatch(out, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/, 'no control character but newline and tab')
  t.match(out, 'agent said gone\\x0d')
})
