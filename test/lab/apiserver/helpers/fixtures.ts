import http from 'node:http'

/** A node as a lab kubelet would register it. */
export function nodeObject(name: string, internalIP: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {name, labels: {'kubernetes.io/hostname': name, 'node-role.kubernetes.io/worker': ''}},
    status: {
      capacity: {cpu: '2', memory: '4Gi', pods: '110'},
      allocatable: {cpu: '2', memory: '4Gi', pods: '110'},
      addresses: [
        {type: 'InternalIP', address: internalIP},
        {type: 'Hostname', address: name},
      ],
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          message: 'cnidbg lab node',
          lastHeartbeatTime: '2024-01-01T00:00:00Z',
          lastTransitionTime: '2024-01-01T00:00:00Z',
        },
      ],
      nodeInfo: {
        kubeletVersion: 'v1.30.0',
        osImage: 'cnidbg lab',
        kernelVersion: '6.18',
        containerRuntimeVersion: 'cnidbg://0.1',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
    },
  }
}

export function podObject(name: string, nodeName: string, labels: Record<string, string> = {app: 'web'}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {name, labels},
    spec: {nodeName, containers: [{name: 'main', image: 'none'}]},
  }
}

/** The status a lab kubelet patches in once the CNI ADD gave the pod an address. */
export function runningStatus(podIP: string) {
  return {
    status: {
      phase: 'Running',
      podIP,
      podIPs: [{ip: podIP}],
      conditions: [{type: 'Ready', status: 'True'}],
      containerStatuses: [
        {name: 'main', ready: true, restartCount: 0, image: 'none', imageID: '', state: {running: {}}},
      ],
    },
  }
}

/** Polls until `cond` holds; rejects with `what` after `ms`. For waiting on asynchronous effects, not timing them. */
export async function waitFor(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const until = Date.now() + ms
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

export interface WatchStream {
  /** Parsed events so far. */
  events: {type: string; object: Record<string, any>}[]
  /** Resolves when the server ends the stream. */
  ended: Promise<void>
  status: Promise<number>
  abort(): void
}

/** Opens a raw watch (or any streaming GET) and collects its JSON lines. */
export function openWatch(url: string, headers: Record<string, string> = {}): WatchStream {
  const events: WatchStream['events'] = []
  let abort = () => {}
  let aborted = false
  let resolveStatus: (n: number) => void = () => {}
  const status = new Promise<number>((r) => (resolveStatus = r))
  const ended = new Promise<void>((resolve, reject) => {
    const req = http.get(url, {headers, agent: false}, (res) => {
      resolveStatus(res.statusCode ?? 0)
      let buf = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buf += chunk
        let nl: number
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl)
          buf = buf.slice(nl + 1)
          if (line.trim()) events.push(JSON.parse(line))
        }
      })
      res.on('end', () => resolve())
      res.on('error', (e) => (aborted ? resolve() : reject(e)))
    })
    req.on('error', (e) => (aborted ? resolve() : reject(e)))
    req.on('close', () => aborted && resolve())
    abort = () => {
      aborted = true
      req.destroy()
    }
  })
  return {events, ended, status, abort: () => abort()}
}
