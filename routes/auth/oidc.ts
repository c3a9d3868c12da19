/**
 * OIDC ID tokens (docs/TRIGGERS.md#google-cloud-scheduler-oidc): Google Cloud Scheduler and
 * other platforms send `Authorization: Bearer <ID token>`, an RS256 JWT signed by the
 * issuer. It is accepted when its signature verifies against the issuer's JWKS, `iss` is the
 * issuer, `aud` the audience, `exp`/`nbf` hold (with a small leeway) and, when `email` is
 * set, the token's `email` is it (and not marked unverified).
 *
 * Keys are fetched from `jwksUri` by jose's remote key set: on first use, cached, refetched
 * when a token names an unknown `kid` (at most once per cooldown) — never on every request.
 */
import { createRemoteJWKSet, errors, jwtVerify } from 'jose'
import { fail } from './tokens.js'

export const GOOGLE_ISSUER = 'https://accounts.google.com'
export const GOOGLE_JWKS_URI = 'https://www.googleapis.com/oauth2/v3/certs'
/** Allowed clock difference for `exp`, `nbf` and `iat`. */
const LEEWAY_SECONDS = 10
/** An unknown `kid` refetches the keys at most this often. */
export const JWKS_COOLDOWN_MS = 30_000
const KEYS = ['audience', 'issuer', 'jwksUri', 'email']

export interface OidcVerifier {
  /** Undefined when accepted, else why not (a jose code or a claim name, for the log). */
  verify: (token: string) => Promise<string | undefined>
}

function checkUrl (value: unknown, name: string): string {
  if (typeof value !== 'string' || !URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) {
    fail(`auth.oidc.${name} must be an absolute http(s) URL`)
  }
  return value
}

/** Validate `auth.oidc` at boot; no key is fetched until the first token arrives. `cooldownMs` is for tests. */
export function resolveOidc (option: unknown, cooldownMs = JWKS_COOLDOWN_MS): OidcVerifier {
  if (typeof option !== 'object' || option === null || Array.isArray(option)) {
    fail('auth.oidc must be an object { audience, issuer?, jwksUri?, email? }')
  }
  for (const key of Object.keys(option)) {
    if (!KEYS.includes(key)) fail(`auth.oidc.${key} is not an option: auth.oidc takes audience, issuer, jwksUri and email`)
  }
  const opts = option as Record<string, unknown>
  const audiences = typeof opts.audience === 'string' ? [opts.audience] : opts.audience
  if (!Array.isArray(audiences) || audiences.length === 0 || !audiences.every(a => typeof a === 'string' && a !== '')) {
    fail('auth.oidc.audience must be a non-empty string (or array of strings): the audience set on the scheduler job')
  }
  const issuer = opts.issuer === undefined ? GOOGLE_ISSUER : checkUrl(opts.issuer, 'issuer')
  const jwksUri = opts.jwksUri === undefined ? GOOGLE_JWKS_URI : checkUrl(opts.jwksUri, 'jwksUri')
  const email = opts.email
  if (email !== undefined && (typeof email !== 'string' || !email.includes('@'))) {
    fail('auth.oidc.email must be an email address (the service account the scheduler job runs as)')
  }
  // Google writes iss with or without the scheme.
  const issuers = issuer === GOOGLE_ISSUER ? [GOOGLE_ISSUER, 'accounts.google.com'] : [issuer]
  const keys = createRemoteJWKSet(new URL(jwksUri), { cooldownDuration: cooldownMs, timeoutDuration: 5000 })

  return {
    async verify (token) {
      try {
        const { payload } = await jwtVerify(token, keys, {
          algorithms: ['RS256'], issuer: issuers, audience: audiences as string[], clockTolerance: LEEWAY_SECONDS, requiredClaims: ['exp']
        })
        if (email !== undefined && (payload.email !== email || payload.email_verified === false)) return 'email'
        return undefined
      } catch (err) {
        return err instanceof errors.JOSEError ? err.code : 'ERR_MALFORMED'
      }
    }
  }
}
