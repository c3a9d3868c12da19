/**
 * Who may call the /_schedule routes (docs/ARCHITECTURE.md#the-http-routes): bearer tokens (from `auth.tokens` or the
 * `SCHEDULE_TOKEN` environment variable), the app's own `authorize(request)`, or an explicit
 * `auth: false`. Resolved once at registration — a weak or missing secret fails the boot —
 * and checked by an onRequest hook on every route but health.
 */
import { timingSafeEqual } from 'node:crypto'
import type { FastifyBaseLogger, FastifyReply, FastifyRequest, HookHandlerDoneFunction, onRequestHookHandler } from 'fastify'
import { InvalidOptionError, MissingAuthError, UnauthorizedError } from '../core/errors.js'
import type { AuthOption } from '../plugin/types.js'
import { suggest } from '../core/suggest.js'
import { compileSerializer, sendSerialized } from './compilers.js'
import { errorAnswer } from './errors.js'
import { redactUrl } from './request-info.js'
import { ErrorBody } from './schemas.js'

export const MIN_TOKEN_LENGTH = 16
export const TOKEN_ENV = 'SCHEDULE_TOKEN'

type Authorize = (request: FastifyRequest) => boolean | Promise<boolean>

/**
 * The configured tokens as zero-padded byte slots of one width, so that timingSafeEqual
 * compares buffers of equal length whatever a candidate's length. (Comparing SHA-256
 * digests gave the same guarantee, but hashing each candidate cost ~2 µs per request,
 * more than the rest of an idle tick.) `scratch` receives each candidate in turn.
 */
export interface TokenSlots {
  slots: ReadonlyArray<{ bytes: Buffer, length: number }>
  scratch: Buffer
}

/** The auth option, validated. */
export type ResolvedAuth =
  | { kind: 'tokens', tokens: TokenSlots, allowQueryToken: boolean }
  | { kind: 'authorize', authorize: Authorize, allowQueryToken: false }
  | { kind: 'none', allowQueryToken: false }

export interface ResolveAuthOptions {
  env: NodeJS.ProcessEnv
  allowQueryToken: boolean
  log: FastifyBaseLogger
}

const AUTH_KEYS = ['tokens', 'authorize']
const ACCEPTED = 'auth accepts { tokens: [...] }, { authorize (request) { ... } } or false'
// Printable ASCII without spaces: anything else cannot travel in an Authorization header.
const TOKEN_CHARACTERS = /^[\x21-\x7e]+$/

/** Slots for tokens already checked by `checkToken` (printable ASCII: one byte per character). */
export function tokenSlots (tokens: readonly string[]): TokenSlots {
  const width = Math.max(...tokens.map(token => token.length))
  const slots = tokens.map(token => {
    const bytes = Buffer.alloc(width)
    bytes.write(token, 'latin1')
    return { bytes, length: token.length }
  })
  return { slots, scratch: Buffer.alloc(width) }
}

function fail (message: string): never {
  throw new InvalidOptionError(message)
}

/** Check one token; `name` says where it came from. The token itself never appears in a message. */
function checkToken (token: unknown, name: string): string {
  if (typeof token !== 'string') {
    fail(`${name} must be a string${token === undefined ? ' (it is undefined: is the environment variable it is read from set?)' : ''}`)
  }
  if (token.length < MIN_TOKEN_LENGTH) {
    fail(`${name} is ${token.length} characters long; a token needs at least ${MIN_TOKEN_LENGTH} (generate one with \`openssl rand -hex 32\`)`)
  }
  if (!TOKEN_CHARACTERS.test(token)) fail(`${name} contains spaces or characters that cannot be sent in an Authorization header`)
  return token
}

function tokensFromOption (tokens: unknown, allowQueryToken: boolean): ResolvedAuth {
  if (!Array.isArray(tokens)) fail('auth.tokens must be an array of strings (several allow rotation)')
  if (tokens.length === 0) fail(`auth.tokens is empty: give at least one token of ${MIN_TOKEN_LENGTH}+ characters`)
  const checked = tokens.map((token, i) => checkToken(token, `auth.tokens[${i}]`))
  return { kind: 'tokens', tokens: tokenSlots(checked), allowQueryToken }
}

function tokensFromEnv (value: string | undefined, allowQueryToken: boolean): ResolvedAuth {
  const tokens = (value ?? '').split(',').map(token => token.trim()).filter(token => token !== '')
  if (tokens.length === 0) throw new MissingAuthError()
  const checked = tokens.map((token, i) =>
    checkToken(token, tokens.length === 1 ? TOKEN_ENV : `${TOKEN_ENV} (token ${i + 1} of ${tokens.length})`))
  return { kind: 'tokens', tokens: tokenSlots(checked), allowQueryToken }
}

function checkAuthKeys (option: object): void {
  for (const key of Object.keys(option)) {
    if (AUTH_KEYS.includes(key)) continue
    const guess = suggest(key, AUTH_KEYS)
    fail(`auth.${key} is not an option${guess !== undefined ? ` (did you mean auth.${guess}?)` : ''}: ${ACCEPTED}`)
  }
  if ('tokens' in option && 'authorize' in option) fail(`auth: give either tokens or authorize, not both; ${ACCEPTED}`)
}

/**
 * Validate the `auth` option once, at registration. Throws `InvalidOptionError` on anything
 * malformed or weak and `MissingAuthError` when no credentials are configured at all.
 */
export function resolveAuth (option: AuthOption | undefined, opts: ResolveAuthOptions): ResolvedAuth {
  const { allowQueryToken } = opts
  if (option === undefined) return tokensFromEnv(opts.env[TOKEN_ENV], allowQueryToken)
  if (option === false) {
    if (allowQueryToken) fail('allowQueryToken: true needs tokens (auth.tokens or SCHEDULE_TOKEN), but auth is false')
    opts.log.warn('fastify-scheduler: auth is false — anyone who can reach the /_schedule routes can trigger tasks')
    return { kind: 'none', allowQueryToken: false }
  }
  if (typeof option !== 'object' || option === null || Array.isArray(option)) fail(ACCEPTED)
  checkAuthKeys(option)
  if ('tokens' in option) return tokensFromOption(option.tokens, allowQueryToken)
  if ('authorize' in option) {
    if (typeof option.authorize !== 'function') fail('auth.authorize must be a function (request) => boolean | Promise<boolean>')
    if (allowQueryToken) fail('allowQueryToken: true works with tokens only; with auth.authorize, read the query in authorize() yourself')
    return { kind: 'authorize', authorize: option.authorize, allowQueryToken: false }
  }
  return fail(ACCEPTED)
}

/**
 * True when `candidate` equals one of the tokens. Constant time: every slot is compared over
 * its whole width, whatever the candidate holds. A candidate longer than the slots is cut
 * to their width, and its length then tells it apart; a character outside printable ASCII
 * writes a byte no token has (or, cut at the edge, a zero), so only the token itself matches.
 */
export function matchesToken (candidate: string, { slots, scratch }: TokenSlots): boolean {
  scratch.fill(0)
  scratch.write(candidate, 'utf8')
  let matched = false
  for (const slot of slots) {
    // Compare first, then combine: no short circuit skips a comparison.
    const equal = timingSafeEqual(scratch, slot.bytes)
    matched = (equal && candidate.length === slot.length) || matched
  }
  return matched
}

/** Whitespace exactly as a regular expression's `\s` (and `String.prototype.trim`) sees it. */
function isSpace (code: number): boolean {
  if (code < 0xa0) return code === 32 || (code >= 9 && code <= 13)
  return code === 0xa0 || code === 0x1680 || (code >= 0x2000 && code <= 0x200a) || code === 0x2028 ||
    code === 0x2029 || code === 0x202f || code === 0x205f || code === 0x3000 || code === 0xfeff
}

/** 'bearer' in any case, as character codes. */
const BEARER = [98, 101, 97, 114, 101, 114]

/**
 * The token of an `Authorization: Bearer <token>` header (scheme in any case, spaces around
 * allowed); '' when the header is present but not a bearer token; undefined when absent or
 * blank. Scanned by hand, not with a regular expression: no match array or trimmed copy per
 * request, only the token itself.
 */
export function bearerToken (header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  let i = 0
  const end = header.length
  while (i < end && isSpace(header.charCodeAt(i))) i++
  if (i === end) return undefined
  for (const code of BEARER) {
    // `| 32` folds A-Z onto a-z and leaves a-z as they are.
    if (i === end || (header.charCodeAt(i) | 32) !== code) return ''
    i++
  }
  const afterScheme = i
  while (i < end && isSpace(header.charCodeAt(i))) i++
  if (i === afterScheme || i === end) return ''
  const start = i
  while (i < end && !isSpace(header.charCodeAt(i))) i++
  const token = header.slice(start, i)
  while (i < end && isSpace(header.charCodeAt(i))) i++
  return i === end ? token : ''
}

function queryToken (request: FastifyRequest): unknown {
  const query = request.query as Record<string, unknown> | null | undefined
  return query !== null && typeof query === 'object' && Object.hasOwn(query, 'token') ? query.token : undefined
}

type Verdict = 'ok' | 'missing' | 'invalid' | 'query token refused' | 'denied'

async function authorizeSafely (authorize: Authorize, request: FastifyRequest): Promise<Verdict> {
  try {
    return (await authorize(request)) === true ? 'ok' : 'denied'
  } catch (err) {
    // The app's check failing is a refusal, never a 500.
    request.log.warn({ err }, 'fastify-scheduler: auth.authorize() threw; answering 401')
    return 'denied'
  }
}

function checkTokens (auth: Extract<ResolvedAuth, { kind: 'tokens' }>, request: FastifyRequest): Verdict {
  const fromHeader = bearerToken(request.headers.authorization)
  const fromQuery = queryToken(request)
  if (fromQuery !== undefined && !auth.allowQueryToken) return 'query token refused'
  if (fromHeader === undefined && fromQuery === undefined) return 'missing'
  const headerOk = fromHeader !== undefined && matchesToken(fromHeader, auth.tokens)
  const queryOk = typeof fromQuery === 'string' && matchesToken(fromQuery, auth.tokens)
  return headerOk || queryOk ? 'ok' : 'invalid'
}

const MESSAGES: Record<Exclude<Verdict, 'ok'>, (auth: ResolvedAuth) => string> = {
  missing: auth => 'Missing credentials: send "Authorization: Bearer <token>"' +
    (auth.allowQueryToken ? ' or add ?token=<token> to the URL' : ''),
  invalid: () => 'Invalid credentials',
  'query token refused': () => 'A token in the query string is not accepted: send "Authorization: Bearer <token>" ' +
    '(or enable the plugin option allowQueryToken)',
  denied: () => 'Not authorized'
}

interface Refusal { challenge: string, body: string }

/**
 * The 401 answer of each verdict, written once by the ErrorBody serializer every route
 * declares for 401: its challenge and its JSON body. A refusal then costs what a bare 404
 * costs, so a flood of unauthenticated requests stays cheap.
 */
function refusals (auth: ResolvedAuth): Record<Exclude<Verdict, 'ok'>, Refusal> {
  const serialize = compileSerializer(ErrorBody)
  const refusal = (verdict: Exclude<Verdict, 'ok'>): Refusal => ({
    challenge: verdict === 'missing' ? 'Bearer realm="fastify-scheduler"' : 'Bearer realm="fastify-scheduler", error="invalid_token"',
    body: serialize(errorAnswer(new UnauthorizedError(MESSAGES[verdict](auth))))
  })
  return {
    missing: refusal('missing'), invalid: refusal('invalid'), 'query token refused': refusal('query token refused'), denied: refusal('denied')
  }
}

/** Rewrite the raw URL (and `originalUrl`, set when the app uses rewriteUrl) without secret query parameters. */
function stripSecretsFromUrl (raw: FastifyRequest['raw'] & { originalUrl?: string }): void {
  if (raw.url !== undefined) raw.url = redactUrl(raw.url)
  if (typeof raw.originalUrl === 'string') raw.originalUrl = redactUrl(raw.originalUrl)
}

/**
 * The onRequest hook guarding the routes. Afterwards (allowed or not) the raw URL loses its
 * secret query parameters, so nothing logged later in the request can show the token.
 * Token checks are synchronous (a callback-style hook, no promise per request); only the
 * app's own `authorize()` is awaited.
 */
export function authHook (auth: ResolvedAuth): onRequestHookHandler {
  const refusal = refusals(auth)
  const conclude = (verdict: Verdict, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    stripSecretsFromUrl(request.raw)
    if (verdict === 'ok') return done()
    const { challenge, body } = refusal[verdict]
    sendSerialized(reply.header('www-authenticate', challenge), 401, body)
  }
  return function checkCredentials (request, reply, done) {
    if (auth.kind === 'authorize') {
      void authorizeSafely(auth.authorize, request).then(verdict => conclude(verdict, request, reply, done))
      return
    }
    conclude(auth.kind === 'none' ? 'ok' : checkTokens(auth, request), request, reply, done)
  }
}
