import {X509Certificate} from 'node:crypto'

import t from 'tap'

import {newKeyAndCsr, selfSignedCert} from '../../src/agent/tls.js'

t.test('a self-signed certificate holds the names and addresses given, and nothing a name could add', async (t) => {
  const c = await selfSignedCert('node1', ['10.0.0.7', 'node1.example'])
  const x = new X509Certificate(c.cert)
  t.equal(x.subject, 'CN=cnidbg-agent node1')
  t.equal(x.subjectAltName, 'IP Address:127.0.0.1, DNS:localhost, IP Address:10.0.0.7, DNS:node1.example')
  t.equal(c.fingerprint, x.fingerprint256)
  // A --listen host is the operator's text: a comma would open another SAN, a colon another type.
  for (const bad of ['a,DNS:evil.example', 'a,IP:10.9.9.9', 'x\ny', '-a', ''])
    await t.rejects(selfSignedCert('node1', [bad]), /not an IP address or DNS name/, JSON.stringify(bad))
})

t.test('a certificate request is for IP addresses only', async (t) => {
  const {csr, key} = await newKeyAndCsr('cnidbg-agent:node1', ['10.0.0.7'])
  t.match(csr, /^-----BEGIN CERTIFICATE REQUEST-----/)
  t.match(key.toString(), /PRIVATE KEY/)
  await t.rejects(newKeyAndCsr('cnidbg-agent:node1', ['10.0.0.7,DNS:evil']), /not an IP address/)
})
