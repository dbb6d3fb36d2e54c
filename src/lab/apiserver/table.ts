/**
 * Server-side printing: `meta.k8s.io` Table responses. Since 1.20 kubectl has no printers of its
 * own for built-in types: for `kubectl get` it asks for
 * `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` and prints the cells it gets back. Without
 * a Table it falls back to NAME and AGE only, so `-o wide` would show no IPs. The columns and cell
 * rules follow pkg/printers/internalversion/printers.go (printNode, printPod, printNamespace,
 * printService, printEndpointSlice, printNetworkPolicy).
 */
import type {K8sObject, ResourceName} from './resources.js'

export interface TableColumn {
  name: string
  type: string
  format: string
  description: string
  priority: number
}

export interface TableRow {
  cells: unknown[]
  object?: unknown
}

export interface Table {
  kind: 'Table'
  apiVersion: string
  metadata: {resourceVersion?: string; continue?: string; remainingItemCount?: number}
  columnDefinitions: TableColumn[]
  rows: TableRow[]
}

export interface TableOptions {
  /** 'v1' or 'v1beta1' (of meta.k8s.io), as the client asked in its Accept header. */
  version?: string
  /** The `includeObject` query parameter: None, Metadata (default) or Object. */
  includeObject?: string
  now?: number
}

const col = (name: string, description: string, priority = 0, format = ''): TableColumn => ({
  name,
  type: 'string',
  format,
  description,
  priority,
})

const NAME = col('Name', 'Name must be unique within a namespace.', 0, 'name')
const AGE = col('Age', 'CreationTimestamp is a timestamp representing the server time when this object was created.')

export const COLUMNS: Record<ResourceName, TableColumn[]> = {
  nodes: [
    NAME,
    col('Status', 'The status of the node'),
    col('Roles', 'The roles of the node'),
    AGE,
    col('Version', 'Kubelet Version reported by the node.'),
    col('Internal-IP', 'List of addresses reachable to the node.', 1),
    col('External-IP', 'List of addresses reachable to the node.', 1),
    col('OS-Image', 'OS Image reported by the node from /etc/os-release.', 1),
    col('Kernel-Version', "Kernel Version reported by the node from 'uname -r'.", 1),
    col('Container-Runtime', 'Container runtime version reported by the node.', 1),
  ],
  pods: [
    NAME,
    col('Ready', 'The aggregate readiness state of this pod for accepting traffic.'),
    col('Status', 'The aggregate status of the containers in this pod.'),
    col('Restarts', 'The number of times the containers in this pod have been restarted.'),
    AGE,
    col('IP', 'IP address allocated to the pod. Routable at least within the cluster.', 1),
    col('Node', 'NodeName is a request to schedule this pod onto a specific node.', 1),
    col('Nominated Node', 'nominatedNodeName is set when this pod preempts other pods on the node.', 1),
    col('Readiness Gates', 'If specified, all readiness gates will be evaluated for pod readiness.', 1),
  ],
  namespaces: [NAME, col('Status', 'The status of the namespace'), AGE],
  services: [
    NAME,
    col('Type', 'The type of service.'),
    col('Cluster-IP', 'The cluster IP of the service.'),
    col('External-IP', 'The external IP of the service.'),
    col('Port(s)', 'The ports of the service.'),
    AGE,
    col('Selector', 'The selector of the service.', 1),
  ],
  endpointslices: [
    NAME,
    col('AddressType', 'The type of address carried by the endpoint slice.'),
    col('Ports', 'The ports of the endpoint slice.'),
    col('Endpoints', 'The addresses of the endpoints.'),
    AGE,
  ],
  networkpolicies: [NAME, col('Pod-Selector', 'The pods the policy selects.'), AGE],
  certificatesigningrequests: [
    NAME,
    AGE,
    col('SignerName', 'The signer the request is for.'),
    col('Requestor', 'Who made the request.'),
    col('Condition', 'Approved, Denied or Failed, and Issued once signed.'),
  ],
  serviceaccounts: [NAME, col('Secrets', 'Secrets is a list of the secrets in the same namespace.'), AGE],
  configmaps: [NAME, col('Data', 'Data contains the configuration data.'), AGE],
  daemonsets: [
    NAME,
    col('Desired', 'The total number of nodes that should be running the daemon pod.'),
    col('Current', 'The number of nodes that are running at least one daemon pod.'),
    col('Ready', 'The number of nodes that should be running the daemon pod and have it ready.'),
    col('Up-to-date', 'The total number of nodes that are running the updated daemon pod.'),
    col('Available', 'The number of nodes that should be running the daemon pod and have it available.'),
    col('Node Selector', 'NodeSelector is a selector which must be true for the pod to fit on a node.'),
    AGE,
    col('Containers', 'Names of each container in the template.', 1),
    col('Images', 'Images referenced by each container in the template.', 1),
  ],
  clusterroles: [NAME, col('Created At', 'CreationTimestamp of the role.', 0, 'date')],
  clusterrolebindings: [
    NAME,
    col('Role', 'Role is the role this binding grants.'),
    AGE,
    col('Users', 'Users in the binding.', 1),
    col('Groups', 'Groups in the binding.', 1),
    col('ServiceAccounts', 'ServiceAccounts in the binding.', 1),
  ],
}

/** duration.HumanDuration from apimachinery: "45s", "3m20s", "5h", "2d3h", "1y30d". */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000)
  if (seconds < -1) return '<invalid>'
  if (seconds < 0) return '0s'
  if (seconds < 120) return `${seconds}s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`
  if (minutes < 180) return `${minutes}m`
  const hours = Math.floor(minutes / 60)
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`
  if (hours < 48) return `${hours}h`
  const days = Math.floor(hours / 24)
  if (hours < 24 * 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`
  if (hours < 24 * 365 * 2) return `${days}d`
  const years = Math.floor(days / 365)
  if (hours < 24 * 365 * 8) return days % 365 === 0 ? `${years}y` : `${years}y${days % 365}d`
  return `${years}y`
}

function age(o: K8sObject, now: number): string {
  const t = o.metadata.creationTimestamp ? Date.parse(o.metadata.creationTimestamp) : NaN
  return Number.isNaN(t) ? '<unknown>' : humanDuration(now - t)
}

type Rec = Record<string, unknown>
const rec = (v: unknown): Rec => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Rec) : {})
const arr = (v: unknown): Rec[] => (Array.isArray(v) ? v.map(rec) : [])
const text = (v: unknown, dflt: string): string => (typeof v === 'string' && v !== '' ? v : dflt)

function nodeCells(o: K8sObject, now: number): unknown[] {
  const status = rec(o.status)
  const ready = arr(status.conditions).find((c) => c.type === 'Ready')
  const states = [ready === undefined ? 'Unknown' : ready.status === 'True' ? 'Ready' : 'NotReady']
  if (rec(o.spec).unschedulable === true) states.push('SchedulingDisabled')
  const roles = new Set<string>()
  for (const [k, v] of Object.entries(o.metadata.labels ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/') && k.length > 'node-role.kubernetes.io/'.length) {
      roles.add(k.slice('node-role.kubernetes.io/'.length))
    } else if (k === 'kubernetes.io/role' && v !== '') roles.add(v)
  }
  const addr = (type: string) => text(arr(status.addresses).find((a) => a.type === type)?.address, '<none>')
  const info = rec(status.nodeInfo)
  return [
    o.metadata.name,
    states.join(','),
    roles.size > 0 ? [...roles].sort().join(',') : '<none>',
    age(o, now),
    text(info.kubeletVersion, ''),
    addr('InternalIP'),
    addr('ExternalIP'),
    text(info.osImage, '<unknown>'),
    text(info.kernelVersion, '<unknown>'),
    text(info.containerRuntimeVersion, '<unknown>'),
  ]
}

function podCells(o: K8sObject, now: number): unknown[] {
  const spec = rec(o.spec)
  const status = rec(o.status)
  let reason = text(status.reason, text(status.phase, ''))
  let restarts = 0
  let ready = 0
  for (const cs of arr(status.containerStatuses).reverse()) {
    restarts += typeof cs.restartCount === 'number' ? cs.restartCount : 0
    const state = rec(cs.state)
    const waiting = rec(state.waiting)
    const terminated = rec(state.terminated)
    if (state.waiting && waiting.reason) reason = String(waiting.reason)
    else if (state.terminated && terminated.reason) reason = String(terminated.reason)
    else if (state.terminated) {
      reason = terminated.signal ? `Signal:${terminated.signal}` : `ExitCode:${terminated.exitCode ?? 0}`
    } else if (cs.ready === true && state.running) ready++
  }
  if (o.metadata.deletionTimestamp) reason = status.reason === 'NodeLost' ? 'Unknown' : 'Terminating'
  const gates = arr(spec.readinessGates)
  const gatesTrue = gates.filter((g) =>
    arr(status.conditions).some((c) => c.type === g.conditionType && c.status === 'True'),
  ).length
  return [
    o.metadata.name,
    `${ready}/${arr(spec.containers).length}`,
    reason,
    String(restarts),
    age(o, now),
    text(status.podIP, '<none>'),
    text(spec.nodeName, '<none>'),
    text(status.nominatedNodeName, '<none>'),
    gates.length > 0 ? `${gatesTrue}/${gates.length}` : '<none>',
  ]
}

function namespaceCells(o: K8sObject, now: number): unknown[] {
  return [o.metadata.name, text(rec(o.status).phase, ''), age(o, now)]
}

const num = (v: unknown): number => (typeof v === 'number' ? v : 0)

function daemonSetCells(o: K8sObject, now: number): unknown[] {
  const st = rec(o.status)
  const pod = rec(rec(rec(o.spec).template).spec)
  const selector = Object.entries(rec(pod.nodeSelector))
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(',')
  const containers = arr(pod.containers)
  return [
    o.metadata.name,
    num(st.desiredNumberScheduled),
    num(st.currentNumberScheduled),
    num(st.numberReady),
    num(st.updatedNumberScheduled),
    num(st.numberAvailable),
    selector || '<none>',
    age(o, now),
    containers.map((c) => String(c.name ?? '')).join(','),
    containers.map((c) => String(c.image ?? '')).join(','),
  ]
}

function bindingCells(o: K8sObject, now: number): unknown[] {
  const ref = rec(o.roleRef)
  const subjects = arr(o.subjects)
  const names = (kind: string) =>
    subjects
      .filter((s) => s.kind === kind)
      .map((s) => (kind === 'ServiceAccount' ? `${String(s.namespace)}/${String(s.name)}` : String(s.name)))
      .join(', ')
  return [
    o.metadata.name,
    `${String(ref.kind ?? '')}/${String(ref.name ?? '')}`,
    age(o, now),
    names('User'),
    names('Group'),
    names('ServiceAccount'),
  ]
}

function serviceCells(o: K8sObject, now: number): unknown[] {
  const spec = rec(o.spec)
  const ports = arr(spec.ports)
    .map((p) => `${String(p.port)}${p.nodePort ? `:${String(p.nodePort)}` : ''}/${text(p.protocol, 'TCP')}`)
    .join(',')
  const selector = Object.entries(rec(spec.selector))
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(',')
  const external = Array.isArray(spec.externalIPs) && spec.externalIPs.length > 0 ? spec.externalIPs.join(',') : ''
  return [
    o.metadata.name,
    text(spec.type, 'ClusterIP'),
    text(spec.clusterIP, '<none>'),
    external || '<none>',
    ports || '<none>',
    age(o, now),
    selector || '<none>',
  ]
}

// printers.go formatEndpointSlice: at most 3 addresses, then how many more.
function endpointSliceCells(o: K8sObject, now: number): unknown[] {
  const ports = arr(o.ports).map((p) => (typeof p.port === 'number' ? String(p.port) : '<unset>'))
  const addrs = arr(o.endpoints).flatMap((e) => (Array.isArray(e.addresses) ? e.addresses.map(String) : []))
  let eps = addrs.slice(0, 3).join(',')
  if (addrs.length > 3) eps += ` + ${addrs.length - 3} more...`
  return [
    o.metadata.name,
    text(o.addressType, ''),
    ports.length > 0 ? ports.join(',') : '<unset>',
    addrs.length > 0 ? eps : '<unset>',
    age(o, now),
  ]
}

// metav1.FormatLabelSelector: matchLabels as k=v, matchExpressions as "k in (a,b)"; "<none>" when empty.
function formatSelector(sel: Rec): string {
  const parts = Object.entries(rec(sel.matchLabels)).map(([k, v]) => `${k}=${String(v)}`)
  for (const e of arr(sel.matchExpressions)) {
    const values = Array.isArray(e.values) ? e.values.map(String).join(',') : ''
    const op = String(e.operator ?? '')
    if (op === 'Exists') parts.push(String(e.key))
    else if (op === 'DoesNotExist') parts.push(`!${String(e.key)}`)
    else parts.push(`${String(e.key)} ${op === 'NotIn' ? 'notin' : 'in'} (${values})`)
  }
  return parts.length > 0 ? parts.join(',') : '<none>'
}

const CELLS: Record<ResourceName, (o: K8sObject, now: number) => unknown[]> = {
  nodes: nodeCells,
  pods: podCells,
  namespaces: namespaceCells,
  serviceaccounts: (o, now) => [o.metadata.name, Array.isArray(o.secrets) ? o.secrets.length : 0, age(o, now)],
  configmaps: (o, now) => [
    o.metadata.name,
    Object.keys(rec(o.data)).length + Object.keys(rec(o.binaryData)).length,
    age(o, now),
  ],
  daemonsets: daemonSetCells,
  services: serviceCells,
  endpointslices: endpointSliceCells,
  networkpolicies: (o, now) => [o.metadata.name, formatSelector(rec(rec(o.spec).podSelector)), age(o, now)],
  clusterroles: (o) => [o.metadata.name, o.metadata.creationTimestamp ?? ''],
  clusterrolebindings: bindingCells,
  certificatesigningrequests: (o, now) => {
    const conditions = Array.isArray(rec(o.status).conditions) ? (rec(o.status).conditions as unknown[]) : []
    const types = conditions.map((c) => String(rec(c).type ?? ''))
    if (rec(o.status).certificate) types.push('Issued')
    return [
      o.metadata.name,
      age(o, now),
      rec(o.spec).signerName ?? '',
      rec(o.spec).username ?? '',
      types.length ? types.join(',') : 'Pending',
    ]
  },
}

/** Renders objects as a Table (a list, a single object, or one watch event's object). */
export function toTable(
  resource: ResourceName,
  objects: readonly K8sObject[],
  meta: Table['metadata'],
  opts: TableOptions = {},
): Table {
  const now = opts.now ?? Date.now()
  const apiVersion = `meta.k8s.io/${opts.version === 'v1beta1' ? 'v1beta1' : 'v1'}`
  const include = opts.includeObject ?? 'Metadata'
  return {
    kind: 'Table',
    apiVersion,
    metadata: meta,
    columnDefinitions: COLUMNS[resource],
    rows: objects.map((o) => {
      const row: TableRow = {cells: CELLS[resource](o, now)}
      if (include === 'Object') row.object = o
      else if (include !== 'None') row.object = {kind: 'PartialObjectMetadata', apiVersion, metadata: o.metadata}
      return row
    }),
  }
}
