/**
 * The agent's serving certificate: files it is given (a cert-manager Secret, a kubeadm-signed pair),
 * one the cluster issues for a CertificateSigningRequest (`newKeyAndCsr`, then src/kube/agent-csr.ts;
 * trace checks it with its kubeconfig's CA), or a self-signed one made at start (P-256, for the
 * addresses it serves, valid a year), served until the cluster's arrives or when none can be had.
 * Keys are made with openssl in a private temp dir that is removed at once, so they exist only in
 * the process. Callers check a self-signed certificate by its SHA-256 fingerprint (printed at start
 * and in `--json`).
 */
import {X509Certificate} from 'node:crypto'
import {readFileSync, rmSync} from 'node:fs'
import {isIP} from 'node:net'
import {join} from 'node:path'

import {runOk} from '../process/exec.js'
import {makeTempDir} from '../process/temp-dir.js'

export interface ServingCert {
  cert: Buffer
  key: Buffer
  /** SHA-256 of the DER certificate, as `AB:CD:…` (openssl x509 -fingerprint -sha256). */
  fingerprint: string
}

export function fingerprintOf(cert: string | Buffer): string {
  return new X509Certificate(cert).fingerprint256
}

export function readServingCert(certFile: string, keyFile: string): ServingCert {
  const cert = readFileSync(certFile)
  return {cert, key: readFileSync(keyFile), fingerprint: fingerprintOf(cert)}
}

/** openssl req's arguments for a fresh P-256 key, unencrypted. */
const NEW_P256_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'] as const

/** A DNS name as a certificate may hold it: nothing openssl's `subjectAltName=` list would read as syntax. */
const DNS_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/

/** A self-signed certificate for these names and addresses (`CN=cnidbg-agent <node>`). */
export async function selfSignedCert(node: string, sans: readonly string[]): Promise<ServingCert> {
  const names = [...new Set(['127.0.0.1', 'localhost', ...sans])]
  // A name comes from --listen: a comma or colon in it would add SANs of its own to the list below.
  const odd = names.find((n) => !isIP(n) && !DNS_NAME.test(n))
  if (odd !== undefined) throw new Error(`not an IP address or DNS name for the certificate: ${JSON.stringify(odd)}`)
  const dir = makeTempDir('cnidbg-agent-tls-')
  try {
    const san = names.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',')
    const [certFile, keyFile] = [join(dir, 'tls.crt'), join(dir, 'tls.key')]
    await runOk(
      'openssl',
      [
        'req',
        '-x509',
        ...NEW_P256_KEY,
        '-days',
        '365',
        '-subj',
        `/CN=cnidbg-agent ${node.replace(/[^A-Za-z0-9.-]/g, '-')}`,
        '-addext',
        `subjectAltName=${san}`,
        '-keyout',
        keyFile,
        '-out',
        certFile,
      ],
      {timeoutMs: 60_000},
    )
    return readServingCert(certFile, keyFile)
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

/**
 * A fresh P-256 key and a certificate request for it: subject `CN=<agentCommonName>`, SANs the node
 * IPs (the names trace checks the certificate against).
 */
export async function newKeyAndCsr(commonName: string, ips: readonly string[]): Promise<{key: Buffer; csr: string}> {
  const odd = ips.find((ip) => !isIP(ip))
  if (odd !== undefined) throw new Error(`not an IP address for the certificate request: ${JSON.stringify(odd)}`)
  const dir = makeTempDir('cnidbg-agent-csr-')
  try {
    const [csrFile, keyFile] = [join(dir, 'tls.csr'), join(dir, 'tls.key')]
    await runOk(
      'openssl',
      [
        'req',
        '-new',
        ...NEW_P256_KEY,
        '-subj',
        `/CN=${commonName.replace(/[^A-Za-z0-9.:-]/g, '-')}`,
        '-addext',
        `subjectAltName=${ips.map((ip) => `IP:${ip}`).join(',')}`,
        '-keyout',
        keyFile,
        '-out',
        csrFile,
      ],
      {timeoutMs: 60_000},
    )
    return {key: readFileSync(keyFile), csr: readFileSync(csrFile, 'utf8')}
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}
