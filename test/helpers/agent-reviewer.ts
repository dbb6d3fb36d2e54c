/** A stand-in for the API server's reviews, for agent tests that don't run one (test/agent/auth.ts does). */
import type {Reviewer} from '../../src/kube/node-proxy-gate.js'

/** Knows one token, of `username`, and lets that user do anything on any node. */
export function allowOnly(token: string, username = 'tester'): Reviewer {
  return {
    async reviewToken(tok) {
      return tok === token
        ? {authenticated: true, user: {username, groups: ['system:authenticated']}}
        : {authenticated: false}
    },
    async reviewAccess(user) {
      return {allowed: user.username === username}
    },
  }
}
