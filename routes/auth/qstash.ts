/**
 * Upstash QStash signatures (docs/TRIGGERS.md#upstash-qstash): every request QStash sends
 * carries `Upstash-Signature`, a JWT signed with HS256 by the current signing key (or, during
 * a rotation, the next one). It is accepted when:
 * - its signature verifies with `currentSigningKey`, else with `nextSigningKey`;
 * - `iss` is "Upstash", `sub` is the URL called (`url` when a proxy rewrites it), `exp` is not
 *   past and `nbf` not ahead, within `LEEWAY_SECONDS`;
 * - its `body` claim is the base64url SHA-256 of the raw body, byte for byte;
 * - its `jti` was never accepted before: claimed in the store (`claimOnce`), remembered until
 *   the token expires, so a captured request cannot be replayed, on this instance or another.
 * The JWT is checked by `jose`, never by hand.
 */
import { createHash } from 'node:crypto'
import { errors, jwtVerify, type JWTPayload } from 'jose'
import { fail, MIN_TOKEN_LENGTH } from './tokens.js'

/** Allowed clock difference for `exp` and `nbf`. */
export const LEEWAY_SECONDS = 10
/** How long past `exp` a jti stays claimed: the leeway, and a margin for clocks that differ. */
const REMEMBER_AFTER_EXP_MS = (LEEWAY_SECONDS + 60) * 1000
const KEYS = ['currentSigningKey', 'nextSigningKey', 'url']

/** The store's `claimOnce`, ready to call (the plugin opens the store first). */
export type ClaimOnce = (key: string, until: Date) => Promise<boolean>

export interface QstashVerifier {
  /** The signature and claims but not yet the body: the claims, or why not (a jose code, for the log). */
  verifyToken: (token: string, calledUrl: string) => Promise<{ ok: true, claims: JWTPayload } | { ok: false, reason: string }>
  /** The body and the jti, once the body is read: undefined when accepted, else why not. */
  verifyBody: (claims: JWTPayload, body: Buffer, claimOnce: ClaimOnce) => Promise<string | undefined>
}

function checkKey (value: unknown, name: string): Uint8Array {
  if (typeof value !== 'string' || value === '') {
    fail(`auth.qstash.${name} must be a non-empty string (QStash console → Signing keys)` +
      (value === undefined ? '; it is undefined: is the environment variable it is read from set?' : ''))
  }
  if (value.length < MIN_TOKEN_LENGTH) fail(`auth.qstash.${name} is ${value.length} characters long: that is not a QStash signing key`)
  return new TextEncoder().encode(value)
}

/** Validate `auth.qstash` at boot. */
export function resolveQstash (option: unknown): QstashVerifier {
  if (typeof option !== 'object' || option === null || Array.isArray(option)) {
    fail('auth.qstash must be an object { currentSigningKey, nextSigningKey, url? }')
  }
  for (const key of Object.keys(option)) {
    if (!KEYS.includes(key)) fail(`auth.qstash.${key} is not an option: auth.qstash takes currentSigningKey, nextSigningKey and url`)
  }
  const opts = option as Record<string, unknown>
  const current = checkKey(opts.currentSigningKey, 'currentSigningKey')
  const next = checkKey(opts.nextSigningKey, 'nextSigningKey')
  const url = opts.url
  if (url !== undefined) {
    if (typeof url !== 'string' || !URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
      fail('auth.qstash.url must be the absolute http(s) URL QStash calls, e.g. "https://example.com/_schedule/run"')
    }
  }

  const verifyWith = async (token: string, key: Uint8Array, subject: string) => await jwtVerify(token, key, {
    algorithms: ['HS256'],
    issuer: 'Upstash',
    subject,
    clockTolerance: LEEWAY_SECONDS,
    requiredClaims: ['exp', 'jti', 'body']
  })

  return {
    async verifyToken (token, calledUrl) {
      const subject = typeof url === 'string' ? url : calledUrl
      try {
        try {
          return { ok: true, claims: (await verifyWith(token, current, subject)).payload }
        } catch (err) {
          // Signed with the other key (a rotation in progress)? Any other fault is final.
          if (!(err instanceof errors.JWSSignatureVerificationFailed)) throw err
          return { ok: true, claims: (await verifyWith(token, next, subject)).payload }
        }
      } catch (err) {
        return { ok: false, reason: err instanceof errors.JOSEError ? err.code : 'ERR_MALFORMED' }
      }
    },

    async verifyBody (claims, body, claimOnce) {
      const digest = createHash('sha256').update(body).digest('base64url')
      // QStash may pad the claim with '='; base64url without padding is the same hash.
      if (typeof claims.body !== 'string' || claims.body.replace(/=+$/, '') !== digest) return 'body hash mismatch'
      if (typeof claims.jti !== 'string' || claims.jti === '') return 'no jti'
      const until = new Date(claims.exp! * 1000 + REMEMBER_AFTER_EXP_MS)
      return (await claimOnce(`qstash:${claims.jti}`, until)) ? undefined : 'replayed jti'
    }
  }
}
