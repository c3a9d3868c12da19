/**
 * Who may call the routes, over HTTP: bearer tokens with rotation, SCHEDULE_TOKEN, query
 * tokens (refused by default, redacted from every log line when allowed), authorize(),
 * auth: false, and the boot failures.
 */
import t, { type Test } from 'tap'
import type { FastifyRequest } from 'fastify'
import { serializerCompiler } from '../../routes/compilers.js'
import { ErrorBody } from '../../routes/schemas.js'
import { AUTH, buildRoutesApp, NEW_TOKEN, OLD_TOKEN, START, TOKEN } from './helpers.js'

const MINUTE = 60_000
const ROUTES = ['/_schedule/run', '/_schedule', '/_schedule/runs']

function withEnv (value: string | undefined, t: Test): void {
  const saved = process.env.SCHEDULE_TOKEN
  if (value === undefined) delete process.env.SCHEDULE_TOKEN
  else process.env.SCHEDULE_TOKEN = value
  t.teardown(() => {
    if (saved === undefined) delete process.env.SCHEDULE_TOKEN
    else process.env.SCHEDULE_TOKEN = saved
  })
}

const method = (url: string): 'POST' | 'GET' => url.endsWith('/run') ? 'POST' : 'GET'

t.test('the boot fails without auth, saying how to set SCHEDULE_TOKEN', async t => {
  withEnv(undefined, t)
  await t.rejects(buildRoutesApp({ plugin: { auth: undefined } }), {
    code: 'FST_SCHEDULER_NO_AUTH', message: /Set SCHEDULE_TOKEN in the environment \(at least 16 characters/
  })
})

t.test('the boot fails on a 10-character token, without printing it', async t => {
  withEnv(undefined, t)
  const short = 'tenletters'
  const err = await buildRoutesApp({ plugin: { auth: { tokens: [short] } } }).then(() => undefined, (e: Error) => e)
  t.match(err, { code: 'FST_SCHEDULER_INVALID_OPTION', message: /auth\.tokens\[0\] is 10 characters long/ })
  t.notOk(err?.message.includes(short))
  withEnv(short, t)
  await t.rejects(buildRoutesApp({ plugin: { auth: undefined } }), { message: /SCHEDULE_TOKEN is 10 characters long/ })
})

t.test('the boot fails on an auth option of the wrong shape', async t => {
  for (const auth of ['abc', { tokens: 'x' }, { token: [TOKEN] }]) {
    await t.rejects(buildRoutesApp({ plugin: { auth: auth as never } }), { code: 'FST_SCHEDULER_INVALID_OPTION', message: /auth/ })
  }
})

t.test('SCHEDULE_TOKEN (comma-separated) is used when auth is not given', async t => {
  withEnv(` ${OLD_TOKEN} , ${NEW_TOKEN} `, t)
  const { app } = await buildRoutesApp({ plugin: { auth: undefined } })
  t.teardown(() => app.close())
  for (const token of [OLD_TOKEN, NEW_TOKEN]) {
    const res = await app.inject({ method: 'GET', url: '/_schedule', headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 200)
  }
})

t.test('every route but health refuses missing or wrong credentials with 401 and WWW-Authenticate: Bearer', async t => {
  const { app, runs } = await buildRoutesApp()
  t.teardown(() => app.close())
  const MISSING = 'Missing credentials: send "Authorization: Bearer <token>"'
  const EMPTY = /^Empty token: the Authorization header names a scheme but carries no token/
  const SCHEME = 'Unsupported Authorization scheme: expected Bearer'
  const INVALID = 'The token is not valid'
  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
  const wrong: Array<[Record<string, string>, string | RegExp]> = [
    [{}, MISSING], [{ authorization: '' }, MISSING], [{ authorization: '   ' }, MISSING],
    [{ authorization: 'Bearer' }, EMPTY], [{ authorization: 'Bearer   ' }, EMPTY],
    [{ authorization: `Bearer ${TOKEN}x` }, INVALID], [{ authorization: `Bearer ${TOKEN.slice(1)}` }, INVALID],
    [{ authorization: `Bearer ${TOKEN} extra` }, INVALID],
    // HTTP Basic is not enabled here: the scheme is refused, even with the right password.
    [{ authorization: basic('u', TOKEN) }, SCHEME],
    [{ authorization: TOKEN }, SCHEME], [{ authorization: `Token ${TOKEN}` }, SCHEME]
  ]
  for (const url of ROUTES) {
    for (const [headers, message] of wrong) {
      const res = await app.inject({ method: method(url), url, headers })
      t.equal(res.statusCode, 401, `${url} ${JSON.stringify(headers)}`)
      t.match(res.headers['www-authenticate'], /^Bearer realm="fastify-scheduler"/)
      t.match(res.json().message, message, `${url} ${JSON.stringify(headers)}: says why`)
      t.notOk(res.body.includes(TOKEN), 'the answer never shows a token')
    }
  }
  t.equal(runs.size, 0)
  const health = await app.inject({ method: 'GET', url: '/_schedule/health' })
  t.equal(health.statusCode, 503, 'health needs no credentials (and no tick came yet)')
  const accepted = await app.inject({ method: 'POST', url: '/_schedule/run', headers: { authorization: `bearer   ${TOKEN}  ` } })
  t.equal(accepted.statusCode, 200, 'the scheme is case-insensitive and spaces are trimmed')
})

t.test('rotation: both current tokens are accepted, the rotated-out one refused', async t => {
  const { app, runs, clock } = await buildRoutesApp({ plugin: { auth: { tokens: [NEW_TOKEN, TOKEN] } } })
  t.teardown(() => app.close())
  const refused = await app.inject({ method: 'POST', url: '/_schedule/run', headers: { authorization: `Bearer ${OLD_TOKEN}` } })
  t.equal(refused.statusCode, 401)
  t.equal(runs.size, 0)
  for (const [i, token] of [NEW_TOKEN, TOKEN].entries()) {
    clock.set(START + i * MINUTE)
    const res = await app.inject({ method: 'POST', url: '/_schedule/run', headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 200)
  }
  t.same(Object.fromEntries(runs), { a: 2, b: 2 })
})

t.test('a query token is refused by default, even a valid one', async t => {
  const { app, runs } = await buildRoutesApp()
  t.teardown(() => app.close())
  for (const headers of [{}, AUTH]) {
    const res = await app.inject({ method: 'POST', url: `/_schedule/run?token=${TOKEN}`, headers })
    t.equal(res.statusCode, 401)
    t.match(res.json().message, /query string is not accepted.*allowQueryToken/)
  }
  t.equal(runs.size, 0)
})

t.test('allowQueryToken accepts ?token= and keeps it out of every log line', async t => {
  const { app, runs, logs, clock } = await buildRoutesApp({ plugin: { allowQueryToken: true, allowGetTrigger: true }, captureLogs: true })
  t.teardown(() => app.close())
  const statuses: number[] = []
  const requests: Array<{ method: 'GET' | 'POST' | 'HEAD', url: string }> = [
    { method: 'POST', url: `/_schedule/run?token=${TOKEN}` },
    { method: 'GET', url: `/_schedule/run?task=a&token=${TOKEN}` },
    { method: 'GET', url: `/_schedule?token=${TOKEN}` },
    { method: 'GET', url: `/_schedule/runs?limit=5&token=${TOKEN}` },
    { method: 'GET', url: `/_schedule/runs?limit=0&token=${TOKEN}` }, // 400
    { method: 'POST', url: `/_schedule/run?task=nope&token=${TOKEN}` }, // 404
    { method: 'GET', url: `/_schedule/nothing-here?token=${TOKEN}` }, // 404 under the prefix
    { method: 'HEAD', url: `/_schedule/run?token=${TOKEN}` }, // 405
    { method: 'GET', url: `/_schedule/health?token=${TOKEN}` }, // 503: the one whole tick was 8 minutes ago (scoped triggers and 404s do not feed health)
    { method: 'POST', url: `/_schedule/run?token=${TOKEN.slice(0, -1)}` } // 401, a near miss
  ]
  for (const [i, request] of requests.entries()) {
    clock.set(START + i * MINUTE)
    statuses.push((await app.inject(request)).statusCode)
  }
  t.same(statuses, [200, 200, 200, 200, 400, 404, 404, 405, 503, 401])
  t.same(Object.fromEntries(runs), { a: 2, b: 1 })
  t.ok(logs.length > 20, `${logs.length} log lines captured`)
  t.ok(logs.some(line => line.includes('"url":"/_schedule/run"')), 'the URL is logged, without the token')
  const leaks = logs.filter(line => line.includes(TOKEN.slice(0, -1)))
  t.same(leaks, [], 'no log line contains the token')
})

t.test('authorize(request): true lets in; false, a throw or a rejection answer 401, never 500', async t => {
  let verdict: () => boolean | Promise<boolean> = () => true
  const seen: string[] = []
  const { app, runs, logs, clock } = await buildRoutesApp({
    captureLogs: true,
    plugin: {
      auth: {
        authorize (request: FastifyRequest) {
          seen.push(request.url)
          return verdict()
        }
      }
    }
  })
  t.teardown(() => app.close())
  const cases: Array<[() => boolean | Promise<boolean>, number]> = [
    [() => true, 200],
    [async () => true, 200],
    [() => false, 401],
    [async () => false, 401],
    [() => { throw new Error('jwt malformed') }, 401],
    [async () => { throw new Error('session store down') }, 401],
    [() => 'yes' as unknown as boolean, 401]
  ]
  for (const [i, [check, status]] of cases.entries()) {
    verdict = check
    clock.set(START + i * MINUTE)
    const res = await app.inject({ method: 'POST', url: '/_schedule/run?task=a' })
    t.equal(res.statusCode, status, String(check))
    if (status === 401) t.match(res.headers['www-authenticate'], /^Bearer/)
  }
  t.same(Object.fromEntries(runs), { a: 2 })
  t.equal(seen[0], '/_schedule/run?task=a', 'authorize sees the request')
  t.ok(logs.some(line => line.includes('auth.authorize() threw')), 'a throw is logged as a refusal')
})

t.test('auth: false opens the routes and warns at boot', async t => {
  const { app, runs, logs } = await buildRoutesApp({ plugin: { auth: false }, captureLogs: true })
  t.teardown(() => app.close())
  t.ok(logs.some(line => line.includes('"level":40') && line.includes('auth is false')))
  const res = await app.inject({ method: 'POST', url: '/_schedule/run' })
  t.equal(res.statusCode, 200)
  t.same(Object.fromEntries(runs), { a: 1, b: 1 })
})

t.test('a 401 is written ahead of time exactly as the ErrorBody serializer writes it', async t => {
  const { app } = await buildRoutesApp({ plugin: { allowQueryToken: true } })
  t.teardown(() => app.close())
  const serialize = serializerCompiler({ schema: ErrorBody, method: 'POST', url: '/_schedule/run', httpStatus: '401' })
  const requests = [{}, { authorization: 'Bearer wrong-token-0123456789' }, { authorization: 'Basic abc' }]
  for (const headers of requests) {
    const res = await app.inject({ method: 'POST', url: '/_schedule/run', headers })
    t.equal(res.statusCode, 401)
    t.equal(res.body, serialize(res.json()), JSON.stringify(headers))
    t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
    t.equal(res.headers['cache-control'], 'no-store')
  }
})

t.test('auth.basic: the token is the HTTP Basic password, for any user name; the 401s say why', async t => {
  const { app, runs, clock, logs } = await buildRoutesApp({ plugin: { auth: { tokens: [TOKEN], basic: true } }, captureLogs: true })
  t.teardown(() => app.close())
  const basic = (credentials: string) => ({ authorization: `Basic ${Buffer.from(credentials).toString('base64')}` })
  for (const [i, credentials] of [`pinger:${TOKEN}`, `:${TOKEN}`, `someone:${TOKEN}`].entries()) {
    clock.set(START + i * MINUTE)
    const res = await app.inject({ method: 'POST', url: '/_schedule/run', headers: basic(credentials) })
    t.equal(res.statusCode, 200, `${credentials.split(':')[0] || '(no user)'}: accepted`)
  }
  t.same(Object.fromEntries(runs), { a: 3, b: 3 })
  const refused: Array<[Record<string, string>, string | RegExp]> = [
    [basic(`pinger:${TOKEN}x`), 'The token is not valid'],
    [basic(`${TOKEN}:nope`), 'The token is not valid'],
    [basic(TOKEN), 'The token is not valid'], // no colon: not user:password
    [basic('pinger:'), /^Empty token/],
    [{ authorization: 'Basic' }, /^Empty token/],
    [{ authorization: `Digest ${TOKEN}` }, 'Unsupported Authorization scheme: expected Bearer or Basic'],
    [{}, 'Missing credentials: send "Authorization: Bearer <token>" or HTTP Basic with the token as the password']
  ]
  clock.set(START + 10 * MINUTE)
  for (const [headers, message] of refused) {
    const res = await app.inject({ method: 'POST', url: '/_schedule/run', headers })
    t.equal(res.statusCode, 401, JSON.stringify(headers))
    t.match(res.json().message, message)
    t.match(res.headers['www-authenticate'], /Basic realm="fastify-scheduler"/, 'the challenge offers Basic')
  }
  t.same(Object.fromEntries(runs), { a: 3, b: 3 }, 'no refused request ran anything')
  t.notOk(logs.join('').includes(Buffer.from(`pinger:${TOKEN}`).toString('base64')), 'no Basic credentials in the logs')
})

t.test('auth.basic without a token fails the boot; with SCHEDULE_TOKEN the token comes from there', async t => {
  withEnv(undefined, t)
  await t.rejects(buildRoutesApp({ plugin: { auth: { basic: true } } }), { code: 'FST_SCHEDULER_INVALID_OPTION', message: /auth\.basic needs a token/ })
  withEnv(TOKEN, t)
  const { app } = await buildRoutesApp({ plugin: { auth: { basic: true } } })
  t.teardown(() => app.close())
  const res = await app.inject({ method: 'POST', url: '/_schedule/run', headers: { authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` } })
  t.equal(res.statusCode, 200)
})

t.test('tokens and authorize combine: either lets a request in', async t => {
  const { app, runs, clock } = await buildRoutesApp({
    plugin: { auth: { tokens: [TOKEN], authorize: request => request.headers['x-internal'] === 'yes' } }
  })
  t.teardown(() => app.close())
  t.equal((await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH })).statusCode, 200, 'the token')
  clock.set(START + MINUTE)
  t.equal((await app.inject({ method: 'POST', url: '/_schedule/run', headers: { 'x-internal': 'yes' } })).statusCode, 200, 'authorize')
  const refused = await app.inject({ method: 'POST', url: '/_schedule/run', headers: { authorization: 'Bearer wrong-token-0123456789' } })
  t.equal(refused.statusCode, 401)
  t.equal(refused.json().message, 'The token is not valid', 'a wrong token says so even when authorize also refused')
  t.equal((await app.inject({ method: 'POST', url: '/_schedule/run' })).json().message, 'Not authorized')
  t.same(Object.fromEntries(runs), { a: 2, b: 2 })
})
