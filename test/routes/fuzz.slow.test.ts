/**
 * Random requests against the real plugin through inject: methods, paths under and outside
 * the prefix, query strings, bodies, content types and headers. Invariants:
 *   - input never causes a 5xx (health's 503 is about ticks, not input) and nothing crashes;
 *   - without valid credentials no task runs and the scheduler is not even ticked;
 *   - with valid credentials only POST (or GET with allowGetTrigger) on /run runs tasks;
 *   - no log line ever contains the token;
 *   - with QStash, OIDC and Basic on too, forged or near-miss signatures, ID tokens and Basic
 *     passwords (in any mix with the rest) never run a task.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import t, { type Test } from 'tap'
import fc from 'fast-check'
import type { InjectOptions } from 'fastify'
import { buildRoutesApp, START, TOKEN, type RoutesApp } from './helpers.js'

const UNAUTHENTICATED_RUNS = 2000
const SIGNED_RUNS = 1000
const AUTHENTICATED_RUNS = 1000
const MINUTE = 60_000

const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS') as fc.Arbitrary<InjectOptions['method'] & string>

const path = fc.oneof(
  fc.constantFrom(
    '/_schedule', '/_schedule/', '/_schedule/run', '/_schedule/run/', '/_schedule/runs', '/_schedule/health',
    '/_schedule/nope', '/_schedule//run', '/_SCHEDULE/run', '/_schedule/run/..', '/_schedule/%2e%2e/run',
    '/_schedulex/run', '/', '/elsewhere', '/_schedule/run%00', '/_schedule/run;x'
  ),
  fc.string({ maxLength: 12 }).map(segment => `/_schedule/${encodeURIComponent(segment)}`),
  fc.string({ maxLength: 12 }).map(segment => `/${encodeURIComponent(segment)}`)
)

const queryKey = fc.oneof(
  fc.constantFrom('task', 'force', 'wait', 'token', 'limit', 'offset', 'status', '__proto__', 'constructor', 'access_token', 'task[]'),
  fc.string({ maxLength: 8 })
)
const queryValue = fc.oneof(
  fc.constantFrom('a', 'b', 'a,b', ',', 'true', '1', 'false', '0', '', 'nope', '-1', '501', '50', 'failed', 'failed,nope'),
  fc.string({ maxLength: 20 }),
  fc.string({ maxLength: 8, unit: 'binary' })
)
/** Near-miss tokens where a credential goes (and, with valid credentials, the token itself). */
const tokenParam = (valid: boolean): fc.Arbitrary<[string, string]> => fc.tuple(
  fc.constantFrom('token', 'access_token', 'TOKEN'),
  fc.constantFrom(`${TOKEN}x`, TOKEN.slice(0, -1), ...(valid ? [TOKEN] : []))
)
const query = (valid: boolean): fc.Arbitrary<string> => fc.oneof(
  fc.array(fc.oneof(fc.tuple(queryKey, queryValue), tokenParam(valid)), { maxLength: 5 })
    .map(pairs => pairs.map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`).join('&')),
  // Raw, possibly malformed query text (bad percent escapes and all)
  fc.string({ maxLength: 30 }).map(text => text.replace(/[#\s]/g, ''))
)

const body = fc.oneof(
  fc.constant(undefined),
  fc.constant(''),
  fc.string({ maxLength: 40 }),
  fc.string({ maxLength: 20, unit: 'binary' }),
  fc.jsonValue({ maxDepth: 3 }).map(value => JSON.stringify(value)),
  fc.record({
    task: fc.oneof(fc.constantFrom('a', 'b', 'a,b', 'nope', ''), fc.array(fc.constantFrom('a', 'b', 'x'), { maxLength: 3 }), fc.integer()),
    force: fc.oneof(fc.boolean(), fc.constantFrom('true', '1', 'yes'), fc.integer()),
    wait: fc.oneof(fc.boolean(), fc.constantFrom('false', '0', 'no'))
  }, { requiredKeys: [] }).map(value => JSON.stringify(value)),
  fc.array(fc.tuple(queryKey, queryValue), { maxLength: 4 }).map(pairs => new URLSearchParams(pairs).toString())
)

const contentType = fc.option(fc.oneof(
  fc.constantFrom(
    'application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1', 'text/plain',
    'application/x-www-form-urlencoded', 'application/octet-stream', 'multipart/form-data; boundary=x',
    '*/*', 'invalid', 'application/', ';', 'application/vnd.api+json'
  ),
  fc.string({ maxLength: 20 })
), { nil: undefined })

/** The token as an HTTP Basic password: wrong for an app without `auth.basic`, valid for one with it. */
const BASIC_WITH_TOKEN = `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`

const wrongAuthorization = fc.option(fc.oneof(
  fc.constantFrom(
    'Bearer wrong-token-0123456789', `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, BASIC_WITH_TOKEN,
    'Bearer', 'bearer ', TOKEN, `Token ${TOKEN}`, ''
  ),
  fc.string({ maxLength: 40 }).map(text => `Bearer ${text}`),
  fc.string({ maxLength: 40 })
), { nil: undefined })

const otherHeaders = fc.dictionary(
  fc.constantFrom('accept', 'x-forwarded-for', 'x-api-key', 'cookie', 'user-agent', 'accept-version', 'x-request-id', 'origin'),
  fc.string({ maxLength: 30 }),
  { maxKeys: 3 }
)

interface Sample {
  method: InjectOptions['method'] & string
  path: string
  query: string
  body: string | undefined
  contentType: string | undefined
  headers: Record<string, string>
}

const sample = (authorization: fc.Arbitrary<string | undefined>, valid: boolean): fc.Arbitrary<Sample> =>
  fc.record({ method, path, query: query(valid), body, contentType, authorization, headers: otherHeaders })
    .map(({ authorization, contentType, headers, ...rest }) => ({
      ...rest,
      contentType,
      headers: {
        ...headers,
        ...(authorization !== undefined ? { authorization } : {}),
        ...(contentType !== undefined ? { 'content-type': contentType } : {})
      }
    }))

/** Requests close to a real ping, so the authenticated run exercises triggers too. */
const wellFormedTrigger = (authorization: fc.Arbitrary<string>): fc.Arbitrary<Sample> => fc.record({
  method: fc.constantFrom('POST', 'GET', 'HEAD') as fc.Arbitrary<Sample['method']>,
  path: fc.constant('/_schedule/run'),
  query: fc.array(fc.tuple(fc.constantFrom('task', 'force', 'wait'), fc.constantFrom('a', 'b', 'a,b', 'true', 'false', '1', '0')), { maxLength: 3 })
    .map(pairs => new URLSearchParams(pairs).toString()),
  body: fc.constantFrom(undefined, '', '{}', '{"task":"a"}', '{"force":true}', 'task=b'),
  contentType: fc.constantFrom(undefined, 'application/json', 'text/plain', 'application/x-www-form-urlencoded'),
  authorization
}).map(({ authorization, contentType, ...rest }) => ({
  ...rest,
  contentType,
  headers: { authorization, ...(contentType !== undefined ? { 'content-type': contentType } : {}) }
}))

/** The path the server sees: inject resolves dot segments (`/_schedule/run/..` is `/_schedule`). */
function routedPath (input: Sample): string {
  return new URL(input.path, 'http://localhost').pathname
}

function toInject (input: Sample): InjectOptions {
  return {
    method: input.method,
    url: input.query === '' ? input.path : `${input.path}?${input.query}`,
    headers: input.headers,
    ...(input.body !== undefined ? { payload: input.body } : {})
  }
}

const SECRET = TOKEN.slice(0, -1) // found in the token and in every near miss

/**
 * Send one request and return the log lines it wrote that hold a token, when its path is
 * under the prefix. Paths outside it are the app's: its own 404 handler logs the full URL,
 * which the plugin cannot reach (the README says so).
 */
async function send (target: RoutesApp, input: Sample): Promise<{ statusCode: number, payload: string, leaked: string[] }> {
  const before = target.logs.length
  const res = await target.app.inject(toInject(input))
  const path = routedPath(input)
  const ours = path === '/_schedule' || path.startsWith('/_schedule/')
  const leaked = ours ? target.logs.slice(before).filter(line => line.includes(SECRET)) : []
  return { statusCode: res.statusCode, payload: res.payload, leaked }
}

function totalRuns (app: RoutesApp): number {
  return [...app.runs.values()].reduce((sum, n) => sum + n, 0)
}

/** 503 is fine only from health, about ticks (HEAD has no body to show it); any other 5xx was caused by the input. */
function inputCaused5xx (input: Sample, statusCode: number, payload: string): boolean {
  if (statusCode < 500) return false
  const health = /"status":"(no tick yet|stale)"/.test(payload) || (input.method === 'HEAD' && input.path === '/_schedule/health')
  return !(statusCode === 503 && health)
}

/**
 * A tally of requests that must all be refused: `check` sends one and answers true when it
 * caused no 5xx, ran nothing and ticked nothing; the tally keeps the statuses seen, the 5xx
 * the input caused and any log line of the routes that held a token.
 */
function refusalTally () {
  const tally = { statuses: new Map<number, number>(), fiveHundreds: 0, leaked: [] as string[] }
  /** `input` is judged for 5xx; `sent` (default `input`) is what goes on the wire. */
  const check = async (target: RoutesApp, input: Sample, sent: Sample = input): Promise<boolean> => {
    const runsBefore = totalRuns(target)
    const tickBefore = target.app.scheduler.lastTickAt?.getTime()
    const res = await send(target, sent)
    tally.statuses.set(res.statusCode, (tally.statuses.get(res.statusCode) ?? 0) + 1)
    const caused5xx = inputCaused5xx(input, res.statusCode, res.payload)
    if (caused5xx) tally.fiveHundreds++
    tally.leaked.push(...res.leaked)
    // Judged on this request alone, so a counterexample names the request that ran or ticked
    return !caused5xx && totalRuns(target) === runsBefore && target.app.scheduler.lastTickAt?.getTime() === tickBefore
  }
  return { tally, check }
}

async function apps (t: Test): Promise<RoutesApp[]> {
  const strict = await buildRoutesApp({ captureLogs: true })
  const lenient = await buildRoutesApp({ captureLogs: true, plugin: { allowQueryToken: true, allowGetTrigger: true } })
  t.teardown(async () => { await strict.app.close(); await lenient.app.close() })
  return [strict, lenient]
}

t.test(`${UNAUTHENTICATED_RUNS} random requests without valid credentials: no 5xx, no run, no tick`, async t => {
  const [strict, lenient] = await apps(t)
  let tried = 0
  const { tally, check } = refusalTally()
  await fc.assert(fc.asyncProperty(fc.boolean(), sample(wrongAuthorization, false), async (useLenient, input) => {
    const target = useLenient ? lenient : strict
    tried++
    target.clock.set(START + tried * MINUTE) // every task is always due: a run would show
    return await check(target, input)
  }), { numRuns: UNAUTHENTICATED_RUNS })
  t.equal(tried, UNAUTHENTICATED_RUNS)
  t.equal(tally.fiveHundreds, 0)
  t.equal(totalRuns(strict) + totalRuns(lenient), 0, 'no task ran without valid credentials')
  t.equal(strict.app.scheduler.lastTickAt ?? lenient.app.scheduler.lastTickAt, undefined, 'neither scheduler was ticked')
  t.comment(`statuses: ${JSON.stringify(Object.fromEntries([...tally.statuses].sort()))}`)
  t.same(tally.leaked, [], 'no log line of the routes holds a token')
})

t.test(`${AUTHENTICATED_RUNS} random requests with valid credentials: no 5xx; only a trigger runs tasks`, async t => {
  const [strict, lenient] = await apps(t)
  let tried = 0
  let runsSeen = 0
  const leakedLines: string[] = []
  const credential = fc.constantFrom(`Bearer ${TOKEN}`, `bearer  ${TOKEN} `)
  await fc.assert(fc.asyncProperty(fc.boolean(), fc.oneof(sample(credential, true), wellFormedTrigger(credential)), async (useLenient, input) => {
    const target = useLenient ? lenient : strict
    tried++
    target.clock.set(START + tried * MINUTE)
    const before = totalRuns(target)
    const res = await send(target, input)
    leakedLines.push(...res.leaked)
    const ran = totalRuns(target) - before
    runsSeen += ran
    const isTrigger = routedPath(input) === '/_schedule/run' && (input.method === 'POST' || (useLenient && input.method === 'GET'))
    return !inputCaused5xx(input, res.statusCode, res.payload) && (ran === 0 || (isTrigger && res.statusCode < 300))
  }), { numRuns: AUTHENTICATED_RUNS })
  t.equal(tried, AUTHENTICATED_RUNS)
  t.ok(runsSeen > 0, `${runsSeen} runs from valid triggers`)
  t.same(leakedLines, [], 'no log line of the routes holds the token')
})

const CURRENT = 'sig_current_0123456789abcdefghij'
const NEXT = 'sig_next_0123456789abcdefghijklmn'

/** Signatures and ID tokens that each have exactly one defect (or several), made once. */
async function forgedCredentials (): Promise<{ signatures: string[], idTokens: string[] }> {
  const now = Math.floor(Date.now() / 1000)
  const emptyHash = createHash('sha256').update('').digest('base64url')
  const qstash = async (key: string, change: { sub?: string, exp?: number, nbf?: number, iss?: string, body?: string }) =>
    await new SignJWT({ body: change.body ?? emptyHash }).setProtectedHeader({ alg: 'HS256' }).setIssuer(change.iss ?? 'Upstash')
      .setSubject(change.sub ?? 'http://localhost:80/_schedule/run').setNotBefore(change.nbf ?? now).setExpirationTime(change.exp ?? now + 300)
      .setJti(`msg_${Math.random()}`).sign(new TextEncoder().encode(key))
  const signatures = [
    await qstash('sig_wrong_0123456789abcdefghijkl', {}),
    await qstash(CURRENT, { exp: now - 120, nbf: now - 600 }),
    await qstash(NEXT, { nbf: now + 300 }),
    await qstash(CURRENT, { sub: 'http://localhost:80/elsewhere' }),
    await qstash(CURRENT, { iss: 'Upstas' }),
    // The hash of bytes no generated body can be (a hash of 'x' would be valid with the body 'x')
    await qstash(CURRENT, { body: createHash('sha256').update(randomBytes(32)).digest('base64url') }),
    // alg none, and an HS256 token whose payload was edited after signing
    'eyJhbGciOiJub25lIn0.eyJpc3MiOiJVcHN0YXNoIn0.',
    (await qstash(CURRENT, {})).replace(/\.([^.]+)\./, (_, payload: string) => `.${payload.slice(0, -2)}AA.`)
  ]
  const stranger = await generateKeyPair('RS256')
  const idToken = async (key: Parameters<SignJWT['sign']>[0], aud: string, kid: string) => await new SignJWT({ email: 'x@y.z' })
    .setProtectedHeader({ alg: 'RS256', kid }).setIssuer('https://issuer.example.com').setAudience(aud).setExpirationTime(now + 300).sign(key)
  const idTokens = [
    await idToken(stranger.privateKey, 'fuzz-audience', 'unknown'),
    await idToken(stranger.privateKey, 'fuzz-audience', 'served'),
    await idToken(jwksKey!.privateKey, 'another-audience', 'served')
  ]
  return { signatures, idTokens }
}

let jwksKey: Awaited<ReturnType<typeof generateKeyPair>> | undefined

t.test(`${SIGNED_RUNS} random requests with forged signatures, ID tokens and Basic passwords: no 5xx, no run, no tick`, async t => {
  jwksKey = await generateKeyPair('RS256', { extractable: true })
  const jwk = { ...(await exportJWK(jwksKey.publicKey)), kid: 'served', alg: 'RS256' }
  const server = createServer((request, response) => response.end(JSON.stringify({ keys: [jwk] })))
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise(resolve => server.close(resolve)))
  const jwksUri = `http://127.0.0.1:${(server.address() as { port: number }).port}/certs`
  const target = await buildRoutesApp({
    captureLogs: true,
    plugin: {
      allowGetTrigger: true,
      auth: {
        tokens: [TOKEN],
        basic: true,
        qstash: { currentSigningKey: CURRENT, nextSigningKey: NEXT },
        oidc: { audience: 'fuzz-audience', issuer: 'https://issuer.example.com', jwksUri }
      }
    }
  })
  t.teardown(() => target.app.close())
  const { signatures, idTokens } = await forgedCredentials()
  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
  const authorization = fc.option(fc.oneof(
    // Not BASIC_WITH_TOKEN: this app has auth.basic on, so that one is a valid credential.
    wrongAuthorization.filter(value => value !== BASIC_WITH_TOKEN).map(value => value ?? ''),
    fc.constantFrom(...idTokens.map(token => `Bearer ${token}`), ...signatures.map(token => `Bearer ${token}`)),
    fc.constantFrom(basic('u', `${TOKEN}x`), basic('', TOKEN.slice(0, -1)), basic(TOKEN, ''), basic('u', ''), 'Basic', 'Basic !!!', `Basic ${TOKEN}`),
    fc.string({ maxLength: 40 }).map(text => basic('u', text))
  ), { nil: undefined })
  const signature = fc.option(fc.oneof(fc.constantFrom(...signatures, ''), fc.string({ maxLength: 60 })), { nil: undefined })
  let tried = 0
  const { tally, check } = refusalTally()
  await fc.assert(fc.asyncProperty(fc.oneof(sample(authorization, false), wellFormedTrigger(authorization.map(value => value ?? ''))), signature, async (input, sig) => {
    tried++
    target.clock.set(START + tried * MINUTE)
    const withSignature = sig === undefined ? input : { ...input, headers: { ...input.headers, 'upstash-signature': sig } }
    return await check(target, input, withSignature)
  }), { numRuns: SIGNED_RUNS })
  t.equal(tried, SIGNED_RUNS)
  t.equal(tally.fiveHundreds, 0)
  t.equal(totalRuns(target), 0, 'no task ran without valid credentials')
  t.equal(target.app.scheduler.lastTickAt, undefined, 'the scheduler was not ticked')
  t.comment(`statuses: ${JSON.stringify(Object.fromEntries([...tally.statuses].sort()))}`)
  t.same(tally.leaked, [], 'no log line of the routes holds a token')
  // The same app does let the real thing in.
  target.clock.set(START + (tried + 1) * MINUTE)
  const ok = await target.app.inject({ method: 'POST', url: '/_schedule/run', headers: { authorization: basic('pinger', TOKEN) } })
  t.equal(ok.statusCode, 200, 'the token as the HTTP Basic password ticks')
  t.ok(totalRuns(target) > 0)
})
