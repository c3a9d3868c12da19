/**
 * Signed triggers, with vectors made here: QStash signatures (HS256 over a current and a
 * next key) and OIDC ID tokens (RS256, keys served by a local JWKS server). Only the valid
 * ones tick; every other one gets a 401 that says only "not valid", and the task never runs.
 */
import { createHash, randomUUID } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'
import { resolveOidc } from '../../routes/auth/oidc.js'
import { sqliteStore } from '../../plugin/stores/sqlite/index.js'
import { AUTH, buildRoutesApp, START, TOKEN } from './helpers.js'

const MINUTE = 60_000
const CURRENT = 'sig_current_0123456789abcdefghij'
const NEXT = 'sig_next_0123456789abcdefghijklmn'
const OTHER = 'sig_other_0123456789abcdefghijkl'
const HOST = 'sched.example.com'
const URL_CALLED = `http://${HOST}/_schedule/run`
const QSTASH = { currentSigningKey: CURRENT, nextSigningKey: NEXT }
const INVALID = 'The token is not valid'

const nowSeconds = (): number => Math.floor(Date.now() / 1000)

interface QstashClaims { url?: string, body?: string, bodyHash?: string, exp?: number, nbf?: number, iss?: string, jti?: string }

/** A QStash signature as Upstash makes one (https://upstash.com/docs/qstash/howto/signature). */
async function qstashSignature (key: string, claims: QstashClaims = {}): Promise<string> {
  const now = nowSeconds()
  const hash = claims.bodyHash ?? createHash('sha256').update(claims.body ?? '').digest('base64url')
  return await new SignJWT({ body: hash })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(claims.iss ?? 'Upstash')
    .setSubject(claims.url ?? URL_CALLED)
    .setIssuedAt(now)
    .setNotBefore(claims.nbf ?? now)
    .setExpirationTime(claims.exp ?? now + 300)
    .setJti(claims.jti ?? `msg_${randomUUID()}`)
    .sign(new TextEncoder().encode(key))
}

function signedRequest (signature: string, body = '') {
  return {
    method: 'POST' as const,
    url: '/_schedule/run',
    headers: { host: HOST, 'upstash-signature': signature, ...(body === '' ? {} : { 'content-type': 'application/json' }) },
    ...(body === '' ? {} : { payload: body })
  }
}

t.test('QStash: only correctly signed, fresh, untampered, first-seen requests tick', async t => {
  const { app, runs, clock, logs } = await buildRoutesApp({ plugin: { auth: { qstash: QSTASH } }, captureLogs: true })
  t.teardown(() => app.close())
  const now = nowSeconds()
  const body = JSON.stringify({ task: 'a' })
  const replayed = await qstashSignature(CURRENT)
  const cases: Array<[string, () => Promise<{ signature: string, body?: string }>, boolean]> = [
    ['valid', async () => ({ signature: await qstashSignature(CURRENT) }), true],
    ['valid, with a JSON body', async () => ({ signature: await qstashSignature(CURRENT, { body }), body }), true],
    ['signed with the next key (a rotation)', async () => ({ signature: await qstashSignature(NEXT) }), true],
    ['a padded body hash', async () => ({ signature: await qstashSignature(CURRENT, { bodyHash: `${createHash('sha256').update('').digest('base64url')}=` }) }), true],
    ['a hash in base64, not base64url', async () => ({ signature: await qstashSignature(CURRENT, { bodyHash: createHash('sha256').update('').digest('base64') }) }), false],
    ['the first use of a jti', async () => ({ signature: replayed }), true],
    ['the same jti again (replay)', async () => ({ signature: replayed }), false],
    ['tampered body', async () => ({ signature: await qstashSignature(CURRENT, { body }), body: JSON.stringify({ task: 'b' }) }), false],
    ['body added to a signature of none', async () => ({ signature: await qstashSignature(CURRENT), body }), false],
    ['another URL', async () => ({ signature: await qstashSignature(CURRENT, { url: 'http://sched.example.com/other/run' }) }), false],
    ['expired', async () => ({ signature: await qstashSignature(CURRENT, { exp: now - 60, nbf: now - 400 }) }), false],
    ['not yet valid', async () => ({ signature: await qstashSignature(CURRENT, { nbf: now + 120 }) }), false],
    ['unknown key', async () => ({ signature: await qstashSignature(OTHER) }), false],
    ['another issuer', async () => ({ signature: await qstashSignature(CURRENT, { iss: 'Someone' }) }), false],
    ['not a JWT', async () => ({ signature: 'garbage' }), false],
    ['an empty header', async () => ({ signature: '' }), false]
  ]
  let expected = 0
  for (const [i, [name, make, valid]] of cases.entries()) {
    clock.set(START + i * MINUTE)
    const { signature, body: sent } = await make()
    const res = await app.inject(signedRequest(signature, sent))
    if (valid) {
      t.equal(res.statusCode, 200, `${name}: 200 ${res.body}`)
      expected += sent === undefined ? 2 : 1
    } else {
      t.equal(res.statusCode, 401, `${name}: 401`)
      t.equal(res.json().message, INVALID, `${name}: the answer says only that it is not valid`)
    }
    t.equal([...runs.values()].reduce((a, b) => a + b, 0), expected, `${name}: ${valid ? 'ticks' : 'nothing runs'}`)
  }
  const text = logs.join('')
  for (const secret of [CURRENT, NEXT, replayed]) t.notOk(text.includes(secret), 'no key or signature in any log line')
  t.match(text, /Upstash-Signature refused/, 'refusals are logged with their reason')
})

t.test('QStash: url names the URL QStash calls when a proxy rewrites it; static tokens still work beside it', async t => {
  const publicUrl = 'https://public.example.com/jobs/tick'
  const { app, runs, clock } = await buildRoutesApp({ plugin: { auth: { tokens: [TOKEN], qstash: { ...QSTASH, url: publicUrl } } } })
  t.teardown(() => app.close())
  t.equal((await app.inject(signedRequest(await qstashSignature(CURRENT)))).statusCode, 401, 'the URL this app sees is not the one signed')
  clock.set(START + MINUTE)
  t.equal((await app.inject(signedRequest(await qstashSignature(CURRENT, { url: publicUrl })))).statusCode, 200)
  clock.set(START + 2 * MINUTE)
  t.equal((await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH })).statusCode, 200, 'the bearer token too')
  t.same(Object.fromEntries(runs), { a: 2, b: 2 })
})

t.test('QStash: a jti is accepted once across two instances on one store', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'signed-triggers-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'shared.sqlite')
  const one = await buildRoutesApp({ plugin: { auth: { qstash: QSTASH }, store: sqliteStore({ path }) } })
  const two = await buildRoutesApp({ plugin: { auth: { qstash: QSTASH }, store: sqliteStore({ path }) } })
  t.teardown(() => Promise.all([one.app.close(), two.app.close()]))
  const signature = await qstashSignature(CURRENT)
  t.equal((await one.app.inject(signedRequest(signature))).statusCode, 200, 'first delivery, instance one')
  two.clock.set(START + MINUTE)
  const replay = await two.app.inject(signedRequest(signature))
  t.equal(replay.statusCode, 401, 'the replay on instance two')
  t.equal(two.runs.size, 0, 'nothing ran on instance two')
  const fresh = await two.app.inject(signedRequest(await qstashSignature(CURRENT)))
  t.equal(fresh.statusCode, 200, 'a new signature is accepted there')
})

t.test('QStash needs a store that can claim a jti once', async t => {
  const { memoryStore } = await import('../../plugin/stores/memory.js')
  const store = memoryStore()
  delete (store as { claimOnce?: unknown }).claimOnce
  await t.rejects(buildRoutesApp({ plugin: { auth: { qstash: QSTASH }, store } }), {
    code: 'FST_SCHEDULER_INVALID_OPTION', message: /auth\.qstash needs a store with claimOnce\(\).*the memory store has none/
  })
})

t.test('QStash options fail the boot naming the field', async t => {
  const cases: Array<[unknown, RegExp]> = [
    [{ nextSigningKey: NEXT }, /auth\.qstash\.currentSigningKey must be a non-empty string.*is the environment variable/],
    [{ currentSigningKey: CURRENT, nextSigningKey: 'short' }, /auth\.qstash\.nextSigningKey is 5 characters long/],
    [{ ...QSTASH, url: '/relative' }, /auth\.qstash\.url must be the absolute http\(s\) URL/],
    [{ ...QSTASH, signingKey: CURRENT }, /auth\.qstash\.signingKey is not an option/],
    ['yes', /auth\.qstash must be an object/]
  ]
  for (const [qstash, message] of cases) {
    const err = await buildRoutesApp({ plugin: { auth: { qstash: qstash as never } } }).then(() => undefined, (e: Error) => e)
    t.match(err, { code: 'FST_SCHEDULER_INVALID_OPTION', message })
    t.notOk(err?.message.includes(CURRENT), 'no key in the message')
  }
})

interface Jwks { server: Server, url: string, fetches: () => number }

async function jwksServer (keys: JWK[]): Promise<Jwks> {
  let fetches = 0
  const server = createServer((request, response) => {
    fetches++
    response.setHeader('content-type', 'application/json')
    response.end(JSON.stringify({ keys }))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const address = server.address() as { port: number }
  return { server, url: `http://127.0.0.1:${address.port}/certs`, fetches: () => fetches }
}

t.test('OIDC: valid ID tokens tick; unknown key, wrong audience, wrong email, expired do not', async t => {
  const ISSUER = 'https://issuer.example.com'
  const AUDIENCE = 'https://sched.example.com/_schedule/run'
  const EMAIL = 'scheduler@project.iam.gserviceaccount.com'
  const served = await generateKeyPair('RS256', { extractable: true })
  const unknown = await generateKeyPair('RS256', { extractable: true })
  const jwks = await jwksServer([{ ...(await exportJWK(served.publicKey)), kid: 'served', alg: 'RS256', use: 'sig' }])
  t.teardown(() => new Promise(resolve => jwks.server.close(resolve)))
  const idToken = async (claims: { aud?: string, email?: string, iss?: string, exp?: number, verified?: boolean } = {}, key = served.privateKey, kid = 'served') => {
    const now = nowSeconds()
    return await new SignJWT({ email: claims.email ?? EMAIL, email_verified: claims.verified ?? true })
      .setProtectedHeader({ alg: 'RS256', kid })
      .setIssuer(claims.iss ?? ISSUER)
      .setAudience(claims.aud ?? AUDIENCE)
      .setIssuedAt(now)
      .setExpirationTime(claims.exp ?? now + 3600)
      .sign(key)
  }
  const { app, runs, clock } = await buildRoutesApp({
    plugin: { auth: { tokens: [TOKEN], oidc: { audience: AUDIENCE, issuer: ISSUER, jwksUri: jwks.url, email: EMAIL } } }
  })
  t.teardown(() => app.close())
  const cases: Array<[string, () => Promise<string>, boolean]> = [
    ['valid', () => idToken(), true],
    ['valid again (keys cached)', () => idToken(), true],
    ['unknown key', () => idToken({}, unknown.privateKey, 'unknown'), false],
    ['another unknown key, within the refetch cooldown', () => idToken({}, unknown.privateKey, 'unknown-2'), false],
    ['a served kid, signed by another key', () => idToken({}, unknown.privateKey), false],
    ['wrong audience', () => idToken({ aud: 'https://elsewhere.example.com' }), false],
    ['wrong email', () => idToken({ email: 'someone@gmail.com' }), false],
    ['email not verified', () => idToken({ verified: false }), false],
    ['another issuer', () => idToken({ iss: 'https://accounts.google.com' }), false],
    ['expired', () => idToken({ exp: nowSeconds() - 120 }), false]
  ]
  let ticks = 0
  for (const [i, [name, make, valid]] of cases.entries()) {
    clock.set(START + i * MINUTE)
    const res = await app.inject({ method: 'POST', url: '/_schedule/run', headers: { authorization: `Bearer ${await make()}` } })
    t.equal(res.statusCode, valid ? 200 : 401, name)
    if (!valid) t.equal(res.json().message, INVALID, `${name}: says only that the token is not valid`)
    if (valid) ticks++
    t.equal(runs.get('a') ?? 0, ticks, `${name}: ${valid ? 'ticks' : 'nothing runs'}`)
  }
  t.equal(jwks.fetches(), 1, 'keys fetched once and cached; unknown kids within the 30 s cooldown fetch nothing more')
  clock.set(START + 30 * MINUTE)
  t.equal((await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH })).statusCode, 200, 'the static token works beside OIDC')
})

t.test('OIDC options fail the boot naming the field; Google is the default', async t => {
  const cases: Array<[unknown, RegExp]> = [
    [{}, /auth\.oidc\.audience must be a non-empty string/],
    [{ audience: 'x', jwksUri: 'not a url' }, /auth\.oidc\.jwksUri must be an absolute http\(s\) URL/],
    [{ audience: 'x', email: 'nobody' }, /auth\.oidc\.email must be an email address/],
    [{ audience: 'x', audiance: 'y' }, /auth\.oidc\.audiance is not an option/]
  ]
  for (const [oidc, message] of cases) {
    await t.rejects(buildRoutesApp({ plugin: { auth: { oidc: oidc as never } } }), { code: 'FST_SCHEDULER_INVALID_OPTION', message })
  }
  const { app } = await buildRoutesApp({ plugin: { auth: { oidc: { audience: 'https://sched.example.com' } } } })
  t.teardown(() => app.close())
  const res = await app.inject({ method: 'POST', url: '/_schedule/run' })
  t.equal(res.statusCode, 401)
  t.equal(res.json().message, 'Missing credentials: send "Authorization: Bearer <token>"')
})

t.test('OIDC: a token naming a new kid refetches the keys (after the cooldown), so a key rotation needs no restart', async t => {
  const first = await generateKeyPair('RS256', { extractable: true })
  const rotated = await generateKeyPair('RS256', { extractable: true })
  const keys: JWK[] = [{ ...(await exportJWK(first.publicKey)), kid: 'first', alg: 'RS256' }]
  const jwks = await jwksServer(keys)
  t.teardown(() => new Promise(resolve => jwks.server.close(resolve)))
  const verifier = resolveOidc({ audience: 'aud', issuer: 'https://issuer.example.com', jwksUri: jwks.url }, 0)
  const token = async (key: Parameters<SignJWT['sign']>[0], kid: string) => await new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', kid }).setIssuer('https://issuer.example.com').setAudience('aud')
    .setExpirationTime(nowSeconds() + 60).sign(key)
  t.equal(await verifier.verify(await token(first.privateKey, 'first')), undefined, 'accepted')
  t.equal(await verifier.verify(await token(first.privateKey, 'first')), undefined, 'accepted again')
  t.equal(jwks.fetches(), 1, 'from the cache')
  t.equal(await verifier.verify(await token(rotated.privateKey, 'rotated')), 'ERR_JWKS_NO_MATCHING_KEY', 'not published yet')
  t.equal(jwks.fetches(), 2, 'the unknown kid refetched the keys')
  keys.push({ ...(await exportJWK(rotated.publicKey)), kid: 'rotated', alg: 'RS256' })
  t.equal(await verifier.verify(await token(rotated.privateKey, 'rotated')), undefined, 'published: accepted')
  t.equal(jwks.fetches(), 3)
})
