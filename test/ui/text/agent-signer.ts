import t from 'tap'

import {formatSignerEvent, formatSignerResult} from '../../../src/ui/text/agent-signer.js'
import {stripAnsi} from '../../helpers/capture.js'

t.test('a line per CSR: signed, pending with why and how to approve it, failed', async (t) => {
  t.equal(
    stripAnsi(formatSignerEvent({csr: 'a', outcome: 'signed', approved: true})),
    'signed CSR a (approved: an agent’s serving certificate for its own node)',
  )
  t.equal(stripAnsi(formatSignerEvent({csr: 'b', outcome: 'signed', approved: false})), 'signed CSR b')
  t.equal(
    stripAnsi(formatSignerEvent({csr: 'c', outcome: 'pending', why: 'no IP SAN'})),
    'pending CSR c: no IP SAN (approve it by hand to have it signed: kubectl certificate approve c)',
  )
  t.equal(stripAnsi(formatSignerEvent({csr: 'd', outcome: 'failed', why: 'usages x'})), 'failed CSR d: usages x')
  t.equal(stripAnsi(formatSignerEvent({csr: '', outcome: 'error', why: 'HTTP 500'})), 'error agent-signer: HTTP 500')
  t.equal(
    stripAnsi(formatSignerEvent({csr: 'e', outcome: 'failed', why: 'subject CN=x\n\u001b[2Jsigned CSR evil'})),
    'failed CSR e: subject CN=x??[2Jsigned CSR evil',
    "a request's control characters stay on its line, inert",
  )
})

t.test('the result: the pass, nothing to do, or watching', async (t) => {
  t.match(formatSignerResult({watching: true, events: []}), /watching CertificateSigningRequests/)
  t.match(formatSignerResult({watching: false, events: []}), /No unsigned CertificateSigningRequest/)
  t.equal(stripAnsi(formatSignerResult({watching: false, events: [{csr: 'a', outcome: 'signed'}]})), 'signed CSR a')
})
