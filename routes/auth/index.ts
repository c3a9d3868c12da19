/**
 * Who may call the /_schedule routes (docs/ARCHITECTURE.md#the-http-routes, docs/TRIGGERS.md):
 * static tokens (`auth.tokens` or the `SCHEDULE_TOKEN` environment variable) as Bearer, as
 * the HTTP Basic password (`basic`) or in the query (`allowQueryToken`); QStash signatures
 * (`qstash`); OIDC ID tokens (`oidc`); the app's own `authorize(request)`; or an explicit
 * `auth: false`. Any configured method that accepts a request lets it in.
 *
 * Resolved once at registration — a weak, missing or malformed setting fails the boot, naming
 * the field — and checked by an onRequest hook on every route but health. A static token is
 * checked synchronously, without a promise; the signature paths cost only when a request
 * carries a signature (docs/TRIGGERS.md#how-a-request-is-checked). A QStash request's body is
 * checked by a preParsing hook that exists only when `qstash` is configured.
 */
import { PassThrough } from 'node:stream'
import type {
  FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, onRequestHookHandler, preParsingHookHandler
} from 'fastify'
import { MissingAuthError, UnauthorizedError } from '../../core/errors.js'
import { suggest } from '../../core/suggest.js'
import type { AuthOption } from '../../plugin/types.js'
import { compileSerializer, sendSerialized } from '../compilers.js'
import { errorAnswer } from '../errors.js'
import { redactUrl } from '../request-info.js'
import { ErrorBody } from '../schemas.js'
import { otherCredentials } from './basic.js'
import { resolveOidc, type OidcVerifier } from './oidc.js'
import { resolveQstash, type ClaimOnce, type QstashVerifier } from './qstash.js'
import { bearerToken, fail, matchesToken, TOKEN_ENV, tokensFromEnv, tokensFromOption, type TokenSlots } from './tokens.js'

export { bearerToken, matchesToken, MIN_TOKEN_LENGTH, TOKEN_ENV, tokenSlots, type TokenSlots } from './tokens.js'
export type { ClaimOnce } from './qstash.js'

type Authorize = (request: FastifyRequest) => boolean | Promise<boolean>

/** The auth option, validated. `none` only for `auth: false`; otherwise at least one method is set. */
export interface ResolvedAuth {
  none: boolean
  tokens?: TokenSlots
  /** Accept the token as the password of HTTP Basic. */
  basic: boolean
  allowQueryToken: boolean
  authorize?: Authorize
  qstash?: QstashVerifier
  oidc?: OidcVerifier
}

export interface ResolveAuthOptions {
  env: NodeJS.ProcessEnv
  allowQueryToken: boolean
  log: FastifyBaseLogger
}

const AUTH_KEYS = ['tokens', 'basic', 'qstash', 'oidc', 'authorize']
const ACCEPTED = 'auth accepts { tokens, basic, qstash, oidc, authorize } (any of them) or false'

function checkAuthKeys (option: object): void {
  for (const key of Object.keys(option)) {
    if (AUTH_KEYS.includes(key)) continue
    const guess = suggest(key, AUTH_KEYS)
    fail(`auth.${key} is not an option${guess !== undefined ? ` (did you mean auth.${guess}?)` : ''}: ${ACCEPTED}`)
  }
}

/**
 * Validate the `auth` option once, at registration. Throws `InvalidOptionError` on anything
 * malformed or weak and `MissingAuthError` when no credentials are configured at all.
 * Static tokens come from `auth.tokens`, else from `SCHEDULE_TOKEN` when the option is absent
 * or asks for them (`basic`, `allowQueryToken`) or names nothing else to check.
 */
export function resolveAuth (option: AuthOption | undefined, opts: ResolveAuthOptions): ResolvedAuth {
  const { allowQueryToken } = opts
  if (option === undefined) return { none: false, tokens: tokensFromEnv(opts.env[TOKEN_ENV]), basic: false, allowQueryToken }
  if (option === false) {
    if (allowQueryToken) fail('allowQueryToken: true needs tokens (auth.tokens or SCHEDULE_TOKEN), but auth is false')
    opts.log.warn('fastify-scheduler: auth is false — anyone who can reach the /_schedule routes can trigger tasks')
    return { none: true, basic: false, allowQueryToken: false }
  }
  if (typeof option !== 'object' || option === null || Array.isArray(option)) fail(ACCEPTED)
  checkAuthKeys(option)
  const o = option as Record<string, unknown>
  const auth: ResolvedAuth = { none: false, basic: false, allowQueryToken }
  if (o.basic !== undefined && typeof o.basic !== 'boolean') fail('auth.basic must be true or false (true: the token is accepted as the password of HTTP Basic)')
  auth.basic = o.basic === true
  if (o.authorize !== undefined) {
    if (typeof o.authorize !== 'function') fail('auth.authorize must be a function (request) => boolean | Promise<boolean>')
    auth.authorize = o.authorize as Authorize
  }
  if (o.qstash !== undefined) auth.qstash = resolveQstash(o.qstash)
  if (o.oidc !== undefined) auth.oidc = resolveOidc(o.oidc)
  if (o.tokens !== undefined) {
    auth.tokens = tokensFromOption(o.tokens)
  } else if (auth.basic || allowQueryToken) {
    const env = opts.env[TOKEN_ENV]
    if (env === undefined || env.trim() === '') {
      fail(`${auth.basic ? 'auth.basic' : 'allowQueryToken'} needs a token: set auth.tokens or ${TOKEN_ENV} in the environment`)
    }
    auth.tokens = tokensFromEnv(env)
  } else if (auth.authorize === undefined && auth.qstash === undefined && auth.oidc === undefined) {
    // `auth: {}` (or only `basic: false`): nothing to check but the environment.
    auth.tokens = tokensFromEnv(opts.env[TOKEN_ENV])
  }
  if (auth.tokens === undefined && auth.authorize === undefined && auth.qstash === undefined && auth.oidc === undefined) {
    throw new MissingAuthError()
  }
  return auth
}

function queryToken (request: FastifyRequest): unknown {
  const query = request.query as Record<string, unknown> | null | undefined
  return query !== null && typeof query === 'object' && Object.hasOwn(query, 'token') ? query.token : undefined
}

/**
 * Why a request is refused, each with its own 401 message (docs/TRIGGERS.md#401-answers):
 * enough for the caller to fix a setup, never which token or what in a signature was wrong.
 */
type Refused = 'missing' | 'empty' | 'scheme' | 'invalid' | 'query token refused' | 'denied'
type Verdict = 'ok' | Refused

/** The accepted ways in, for the "no credentials" message. */
function accepted (auth: ResolvedAuth): string {
  const ways: string[] = []
  if (auth.tokens !== undefined || auth.oidc !== undefined) ways.push('"Authorization: Bearer <token>"')
  if (auth.basic) ways.push('HTTP Basic with the token as the password')
  if (auth.allowQueryToken) ways.push('?token=<token> in the URL')
  if (auth.qstash !== undefined) ways.push('an Upstash-Signature header')
  if (ways.length === 0) return 'the credentials your app\'s authorize() expects'
  return ways.length === 1 ? ways[0]! : `${ways.slice(0, -1).join(', ')} or ${ways[ways.length - 1]!}`
}

const MESSAGES: Record<Refused, (auth: ResolvedAuth) => string> = {
  missing: auth => `Missing credentials: send ${accepted(auth)}`,
  empty: () => 'Empty token: the Authorization header names a scheme but carries no token (is the variable holding it set in this shell?)',
  scheme: auth => `Unsupported Authorization scheme: expected ${auth.basic ? 'Bearer or Basic' : 'Bearer'}`,
  invalid: () => 'The token is not valid',
  'query token refused': () => 'A token in the query string is not accepted: send "Authorization: Bearer <token>" ' +
    '(or enable the plugin option allowQueryToken)',
  denied: () => 'Not authorized'
}
const REFUSED: readonly Refused[] = ['missing', 'empty', 'scheme', 'invalid', 'query token refused', 'denied']

interface Refusal { challenge: string, body: string }

/**
 * The 401 answer of each verdict, written once by the ErrorBody serializer every route
 * declares for 401: its challenge and its JSON body. A refusal then costs what a bare 404
 * costs, so a flood of unauthenticated requests stays cheap.
 */
function refusals (auth: ResolvedAuth): Record<Refused, Refusal> {
  const serialize = compileSerializer(ErrorBody)
  const basic = auth.basic ? ', Basic realm="fastify-scheduler"' : ''
  const answers = {} as Record<Refused, Refusal>
  for (const verdict of REFUSED) {
    answers[verdict] = {
      challenge: (verdict === 'missing' ? 'Bearer realm="fastify-scheduler"' : 'Bearer realm="fastify-scheduler", error="invalid_token"') + basic,
      body: serialize(errorAnswer(new UnauthorizedError(MESSAGES[verdict](auth))))
    }
  }
  return answers
}

/** Rewrite the raw URL (and `originalUrl`, set when the app uses rewriteUrl) without secret query parameters. */
function stripSecretsFromUrl (raw: FastifyRequest['raw'] & { originalUrl?: string }): void {
  if (raw.url !== undefined) raw.url = redactUrl(raw.url)
  if (typeof raw.originalUrl === 'string') raw.originalUrl = redactUrl(raw.originalUrl)
}

/** What the static tokens say, synchronously; `oidcToken` when a Bearer value may be an ID token. */
function checkTokens (auth: ResolvedAuth, request: FastifyRequest): { verdict: Verdict, bearer?: string } {
  const header = request.headers.authorization
  const fromHeader = bearerToken(header)
  const fromQuery = auth.tokens === undefined ? undefined : queryToken(request)
  if (fromQuery !== undefined && !auth.allowQueryToken) return { verdict: 'query token refused' }
  if (fromHeader === undefined && fromQuery === undefined) return { verdict: 'missing' }
  const tokens = auth.tokens
  if (tokens !== undefined) {
    const headerOk = fromHeader !== undefined && fromHeader !== '' && matchesToken(fromHeader, tokens)
    const queryOk = typeof fromQuery === 'string' && matchesToken(fromQuery, tokens)
    if (headerOk || queryOk) return { verdict: 'ok' }
  }
  if (fromHeader === undefined) return { verdict: 'invalid' }
  if (fromHeader !== '') return { verdict: 'invalid', bearer: fromHeader }
  // Not a plain bearer token: the slow path, for refusals and HTTP Basic.
  const other = otherCredentials(header!)
  if (other.kind === 'basic') {
    return { verdict: auth.basic && tokens !== undefined && matchesToken(other.password, tokens) ? 'ok' : auth.basic ? 'invalid' : 'scheme' }
  }
  if (other.kind === 'empty') return { verdict: 'empty' }
  if (other.kind === 'scheme') return { verdict: 'scheme' }
  return { verdict: 'invalid' }
}

/** A compact JWT: three base64url parts (an ID token never looks like a static token without dots). */
function looksLikeJwt (value: string): boolean {
  const first = value.indexOf('.')
  return first > 0 && value.indexOf('.', first + 1) > first + 1 && value.startsWith('eyJ')
}

/** The URL the caller called, as QStash signs it (`sub`): scheme, host and the path with its query. */
function calledUrl (request: FastifyRequest): string {
  const raw = request.raw as FastifyRequest['raw'] & { originalUrl?: string }
  return `${request.protocol}://${request.host}${raw.originalUrl ?? raw.url ?? request.url}`
}

/** Requests whose QStash token verified in onRequest, waiting for their body (preParsing). */
const PENDING_BODIES = new WeakMap<FastifyRequest, Record<string, unknown>>()

/**
 * The onRequest hook guarding the routes. Afterwards (allowed or not) the raw URL loses its
 * secret query parameters, so nothing logged later in the request can show the token.
 * Static token checks are synchronous (a callback-style hook, no promise per request); only
 * signatures and the app's own `authorize()` are awaited.
 */
export function authHook (auth: ResolvedAuth): onRequestHookHandler {
  const refusal = refusals(auth)
  const conclude = (verdict: Verdict, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    stripSecretsFromUrl(request.raw)
    if (verdict === 'ok') return done()
    const { challenge, body } = refusal[verdict]
    sendSerialized(reply.header('www-authenticate', challenge), 401, body)
  }
  /** After the static tokens refused: an ID token, then the app's own check, may still let the request in. */
  const slowPath = async (request: FastifyRequest, verdict: Refused, bearer: string | undefined): Promise<Verdict> => {
    if (auth.oidc !== undefined && bearer !== undefined && looksLikeJwt(bearer)) {
      const why = await auth.oidc.verify(bearer)
      if (why === undefined) return 'ok'
      request.log.info({ reason: why }, 'fastify-scheduler: OIDC token refused')
    }
    if (auth.authorize !== undefined) {
      if (await authorizeSafely(auth.authorize, request)) return 'ok'
      // A credential that was sent says what was wrong with it; none sent, the app refused.
      return verdict === 'missing' ? 'denied' : verdict
    }
    return verdict
  }
  const qstashPath = async (request: FastifyRequest, token: string): Promise<Verdict> => {
    const checked = await auth.qstash!.verifyToken(token, calledUrl(request))
    if (!checked.ok) {
      request.log.info({ reason: checked.reason }, 'fastify-scheduler: Upstash-Signature refused')
      return 'invalid'
    }
    PENDING_BODIES.set(request, checked.claims)
    return 'ok'
  }
  return function checkCredentials (request, reply, done) {
    if (auth.none) return conclude('ok', request, reply, done)
    const signature = auth.qstash === undefined ? undefined : request.headers['upstash-signature']
    if (signature !== undefined) {
      // A signed request is judged by its signature alone.
      void qstashPath(request, typeof signature === 'string' ? signature : '')
        .then(verdict => conclude(verdict, request, reply, done), () => conclude('invalid', request, reply, done))
      return
    }
    const { verdict, bearer } = checkTokens(auth, request)
    if (verdict === 'ok' || verdict === 'query token refused' || (auth.oidc === undefined && auth.authorize === undefined)) {
      return conclude(verdict, request, reply, done)
    }
    void slowPath(request, verdict, bearer)
      .then(final => conclude(final, request, reply, done), () => conclude('invalid', request, reply, done))
  }
}

async function authorizeSafely (authorize: Authorize, request: FastifyRequest): Promise<boolean> {
  try {
    return (await authorize(request)) === true
  } catch (err) {
    // The app's check failing is a refusal, never a 500.
    request.log.warn({ err }, 'fastify-scheduler: auth.authorize() threw; answering 401')
    return false
  }
}

/** The largest body read to check a QStash signature when the route sets no limit (Fastify's default). */
const DEFAULT_BODY_LIMIT = 1024 * 1024

async function readBody (payload: NodeJS.ReadableStream, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = []
  let length = 0
  for await (const chunk of payload) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
    length += bytes.length
    if (length > limit) return undefined
    chunks.push(bytes)
  }
  return Buffer.concat(chunks, length)
}

/**
 * With `auth.qstash`: a preParsing hook that reads the body of a request whose signature
 * verified, checks it against the token's `body` hash and claims the token's `jti` in the
 * store, then hands the same bytes on to the body parsers. Other requests pass untouched.
 */
export function signedBodyHook (auth: ResolvedAuth, claimOnce: ClaimOnce): preParsingHookHandler | undefined {
  const qstash = auth.qstash
  if (qstash === undefined) return undefined
  const refusal = refusals(auth).invalid
  return function checkSignedBody (request, reply, payload, done) {
    const claims = PENDING_BODIES.get(request)
    if (claims === undefined) return done(null, payload)
    PENDING_BODIES.delete(request)
    const refuse = (reason: string): void => {
      request.log.info({ reason }, 'fastify-scheduler: Upstash-Signature refused')
      sendSerialized(reply.header('www-authenticate', refusal.challenge), 401, refusal.body)
    }
    readBody(payload, request.routeOptions.bodyLimit ?? DEFAULT_BODY_LIMIT).then(async body => {
      if (body === undefined) return refuse('body over the limit')
      const why = await qstash.verifyBody(claims, body, claimOnce)
      if (why !== undefined) return refuse(why)
      // The same bytes, as a byte stream, for the body parsers.
      const again = new PassThrough()
      again.end(body)
      done(null, again)
    }).catch((err: unknown) => done(err as Error))
  }
}

/** Register what the guarded routes need besides the onRequest guard: the QStash body check, when configured. */
export function addSignedBodyHook (app: FastifyInstance, auth: ResolvedAuth, claimOnce: ClaimOnce): void {
  const hook = signedBodyHook(auth, claimOnce)
  if (hook !== undefined) app.addHook('preParsing', hook)
}
