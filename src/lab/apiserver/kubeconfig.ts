/**
 * A kubeconfig for the lab apiserver: one cluster, one user, one context, made current. Written as
 * YAML by hand (strings JSON-quoted, which YAML reads as they are), so no YAML library is needed.
 */
import fs from 'node:fs'
import path from 'node:path'

export interface KubeconfigOptions {
  /** e.g. http://127.0.0.1:34567 */
  server: string
  /** Name of the cluster, user and context. Default "cnidbg-lab". */
  name?: string
  /** Bearer token, when the server checks one. */
  token?: string
  /** Base64 of the PEM certificate(s) to trust for an https: server. */
  certificateAuthorityData?: string
  /** Default namespace of the context. Default "default". */
  namespace?: string
}

export function kubeconfigYaml(opts: KubeconfigOptions): string {
  const name = JSON.stringify(opts.name ?? 'cnidbg-lab')
  const q = JSON.stringify
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: ${name}`,
    '  cluster:',
    `    server: ${q(opts.server)}`,
    // There is no TLS to verify on plain http, but @kubernetes/client-node 1.x refuses an http: server
    // unless this is set ("HTTP protocol is not allowed when skipTLSVerify is not set"). kubectl ignores it.
    ...(opts.server.startsWith('http:') ? ['    insecure-skip-tls-verify: true'] : []),
    ...(opts.certificateAuthorityData ? [`    certificate-authority-data: ${q(opts.certificateAuthorityData)}`] : []),
    'users:',
    `- name: ${name}`,
    opts.token === undefined ? '  user: {}' : `  user:\n    token: ${q(opts.token)}`,
    'contexts:',
    `- name: ${name}`,
    '  context:',
    `    cluster: ${name}`,
    `    user: ${name}`,
    `    namespace: ${q(opts.namespace ?? 'default')}`,
    `current-context: ${name}`,
    'preferences: {}',
    '',
  ].join('\n')
}

/** Writes the kubeconfig atomically, readable by its owner only (it may hold a token). */
export function writeKubeconfig(file: string, opts: KubeconfigOptions): void {
  fs.mkdirSync(path.dirname(file), {recursive: true})
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, kubeconfigYaml(opts), {mode: 0o600})
  fs.renameSync(tmp, file)
}
