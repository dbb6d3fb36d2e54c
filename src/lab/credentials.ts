/**
 * The lab's API credentials (docs/lab.md, "Credentials"): one bearer token per identity, in a token
 * file only the API server reads, and one kubeconfig per component that talks to the API server.
 * Tokens travel only in files readable by root (the lab runs as root): never on a command line,
 * in the environment or in a log.
 *
 * | identity                         | kubeconfig                          | used by                        |
 * |----------------------------------|-------------------------------------|--------------------------------|
 * | admin (system:masters)           | <lab>/kubeconfig                    | kubectl, lab commands, trace   |
 * | system:cnidbg:supervisor         | <lab>/auth/supervisor.kubeconfig    | the supervisor's node watch    |
 * | system:node:<node>               | <lab>/auth/<node>-kubelet.kubeconfig| the node's kubelet stand-in    |
 * | system:cnidbg:daemon:<node>      | <lab>/auth/<node>-daemon.kubeconfig | the lab's own daemon client    |
 * | cnidbg-lab-tracer (cnidbg:tracers)| <lab>/auth/node-tracer.kubeconfig  | trace run inside a node        |
 *
 * The node processes of deploy/'s DaemonSets (the daemon, the agent) use their ServiceAccount's token
 * instead, minted by TokenRequest (node-pods.ts).
 */
import {randomBytes} from 'node:crypto'
import {chmodSync, closeSync, constants, mkdirSync, openSync, readFileSync, rmSync, writeSync} from 'node:fs'
import {join} from 'node:path'

import {ADMIN_GROUP, daemonUser, formatTokenFile, nodeUser, SUPERVISOR_USER, type TokenEntry} from './apiserver/auth.js'
import {writeKubeconfig} from './apiserver/kubeconfig.js'
import {runOk} from '../process/exec.js'
import {CONTROL_PLANE_IP, CONTROL_PLANE_PORT} from './names.js'
import type {LabAuthState, LabState} from './state.js'

export function planLabAuth(labDir: string): LabAuthState {
  const dir = join(labDir, 'auth')
  return {
    dir,
    tokenFile: join(dir, 'tokens.csv'),
    tlsCert: join(dir, 'apiserver.crt'),
    tlsKey: join(dir, 'apiserver.key'),
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    supervisorKubeconfig: join(dir, 'supervisor.kubeconfig'),
    nodeKubeconfig: join(dir, 'node-tracer.kubeconfig'),
  }
}

/**
 * The user of `nodeKubeconfig`: one of the group deploy/10-rbac.yaml binds to `cnidbg-tracer`, so
 * it may do what a person running trace on a cluster may, no more (read Nodes and Pods, nodes/proxy).
 */
export const TRACER_USER = 'cnidbg-lab-tracer'
export const TRACER_GROUP = 'cnidbg:tracers'

export const kubeletKubeconfig = (auth: LabAuthState, node: string): string =>
  join(auth.dir, `${node}-kubelet.kubeconfig`)
export const daemonKubeconfig = (auth: LabAuthState, node: string): string =>
  join(auth.dir, `${node}-daemon.kubeconfig`)

/** 256 random bits, base64url: nothing a CSV field or a YAML string needs to quote. */
export function newToken(): string {
  return randomBytes(32).toString('base64url')
}

export interface LabTokens {
  admin: TokenEntry
  supervisor: TokenEntry
  kubelets: Map<string, TokenEntry>
  daemons: Map<string, TokenEntry>
  tracer: TokenEntry
}

/** Fresh tokens for every identity of the lab. */
export function newLabTokens(state: Pick<LabState, 'nodes'>): LabTokens {
  const entry = (user: TokenEntry['user']): TokenEntry => ({token: newToken(), user})
  return {
    admin: entry({name: 'cnidbg-lab-admin', uid: 'cnidbg-lab-admin', groups: [ADMIN_GROUP]}),
    supervisor: entry({name: SUPERVISOR_USER, uid: SUPERVISOR_USER, groups: []}),
    kubelets: new Map(state.nodes.map((n) => [n.name, entry(nodeUser(n.name))])),
    daemons: new Map(state.nodes.map((n) => [n.name, entry(daemonUser(n.name))])),
    tracer: entry({name: TRACER_USER, uid: TRACER_USER, groups: [TRACER_GROUP]}),
  }
}

/** Writes the token file, created 0600 in a 0700 directory and never through a planted file or link. */
export function writeTokenFile(auth: LabAuthState, tokens: LabTokens): void {
  mkdirSync(auth.dir, {recursive: true, mode: 0o700})
  rmSync(auth.tokenFile, {force: true})
  const entries = [
    tokens.admin,
    tokens.supervisor,
    ...tokens.kubelets.values(),
    ...tokens.daemons.values(),
    tokens.tracer,
  ]
  const fd = openSync(
    auth.tokenFile,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  )
  try {
    writeSync(fd, formatTokenFile(entries))
  } finally {
    closeSync(fd)
  }
}

const P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
const APISERVER_SANS = `subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,IP:${CONTROL_PLANE_IP}`

/**
 * The API server's serving certificate (P-256, SANs 127.0.0.1, ::1 and localhost, and the control
 * plane's underlay address the nodes use; 10 years: the lab lives as long as the machine's /run),
 * made with openssl from argv. With `caCert` and `caKey`, as on a kubeadm cluster: a cluster CA
 * (`CN=cnidbg-lab-ca`), which the kubeconfigs trust and which signs this certificate and the node
 * agents' (apiserver/csr.ts); without them, one self-signed certificate the kubeconfigs trust.
 */
export async function writeServingCert(
  auth: Pick<LabAuthState, 'dir' | 'tlsCert' | 'tlsKey' | 'caCert' | 'caKey'>,
): Promise<void> {
  mkdirSync(auth.dir, {recursive: true, mode: 0o700})
  const files = [auth.tlsCert, auth.tlsKey, auth.caCert, auth.caKey].filter((f): f is string => Boolean(f))
  for (const f of files) rmSync(f, {force: true})
  const opts = {timeoutMs: 60_000}
  if (auth.caCert && auth.caKey) {
    await runOk(
      'openssl',
      [
        'req',
        '-x509',
        ...P256,
        '-days',
        '3650',
        '-subj',
        '/CN=cnidbg-lab-ca',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
        '-keyout',
        auth.caKey,
        '-out',
        auth.caCert,
      ],
      opts,
    )
    chmodSync(auth.caKey, 0o600)
  }
  const signed = auth.caCert && auth.caKey ? ['-CA', auth.caCert, '-CAkey', auth.caKey] : []
  await runOk(
    'openssl',
    [
      'req',
      '-x509',
      ...signed,
      ...P256,
      '-days',
      '3650',
      '-subj',
      '/CN=cnidbg-lab-apiserver',
      '-addext',
      APISERVER_SANS,
      ...(signed.length
        ? ['-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'extendedKeyUsage=serverAuth']
        : []),
      '-keyout',
      auth.tlsKey,
      '-out',
      auth.tlsCert,
    ],
    opts,
  )
  chmodSync(auth.tlsKey, 0o600)
}

/** What the lab's clients trust: the cluster CA, or the API server's own certificate in a lab made without one. */
export const trustedCa = (auth: Pick<LabAuthState, 'tlsCert' | 'caCert'>): string => auth.caCert ?? auth.tlsCert

/** Writes every component's kubeconfig (0600) once the API server's URL is known. */
export function writeLabKubeconfigs(state: LabState, auth: LabAuthState, tokens: LabTokens, server: string): void {
  const ca = server.startsWith('https:') ? readFileSync(trustedCa(auth)).toString('base64') : undefined
  const kc = (file: string, token: string) => writeKubeconfig(file, {server, token, certificateAuthorityData: ca})
  kc(state.kubeconfig, tokens.admin.token)
  kc(auth.supervisorKubeconfig, tokens.supervisor.token)
  for (const n of state.nodes) {
    kc(kubeletKubeconfig(auth, n.name), tokens.kubelets.get(n.name)!.token)
    kc(daemonKubeconfig(auth, n.name), tokens.daemons.get(n.name)!.token)
  }
  // For programs inside a node's namespace (trace run on a node): the control plane's underlay address.
  if (auth.nodeKubeconfig)
    writeKubeconfig(auth.nodeKubeconfig, {
      server: nodeApiServerUrl(server),
      token: tokens.tracer.token,
      certificateAuthorityData: ca,
    })
}

/** The API server's URL as the nodes reach it: the control plane's underlay address, same scheme. */
export function nodeApiServerUrl(server: string): string {
  return `${server.startsWith('https:') ? 'https' : 'http'}://${CONTROL_PLANE_IP}:${CONTROL_PLANE_PORT}`
}
