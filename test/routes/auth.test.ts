/**
 * resolveAuth (boot-time checks of the auth option) and the constant-time token match.
 * The HTTP side of auth is in auth-http.test.ts.
 */
import t, { type Test } from 'tap'
import type { FastifyBaseLogger } from 'fastify'
import { bearerToken, matchesToken, resolveAuth, type ResolvedAuth } from '../../routes/auth/index.js'
import type { AuthOption } from '../../plugin/types.js'

const TOKEN_A = 'token-a-0123456789abcdef'
const TOKEN_B = 'token-b-0123456789abcdef'
const SHORT = 'short-0123' // 10 characters

function silentLog (warnings: string[] = []): FastifyBaseLogger {
  const log = {
    level: 'info',
    warn: (message: string) => { warnings.push(message) },
    info () {},
    error () {},
    debug () {},
    trace () {},
    fatal () {},
    silent () {},
    child: () => log
  }
  return log as unknown as FastifyBaseLogger
}

function resolve (option: unknown, env: NodeJS.ProcessEnv = {}, allowQueryToken = false): ResolvedAuth {
  return resolveAuth(option as AuthOption, { env, allowQueryToken, log: silentLog() })
}

/** Assert `fn` throws a coded error whose message matches and never contains `secret`. */
function throwsCoded (tt: Test, fn: () => unknown, code: string, message: RegExp, secret?: string): void {
  try {
    fn()
    tt.fail('expected a boot error')
  } catch (err) {
    const error = err as Error & { code?: string }
    tt.equal(error.code, code)
    tt.match(error.message, message)
    if (secret !== undefined) tt.notOk(error.message.includes(secret), 'the message never shows the token')
  }
}

t.test('with no auth option and no SCHEDULE_TOKEN the boot fails, saying how to set one', async t => {
  throwsCoded(t, () => resolve(undefined, {}), 'FST_SCHEDULER_NO_AUTH', /Set SCHEDULE_TOKEN in the environment/)
  throwsCoded(t, () => resolve(undefined, { SCHEDULE_TOKEN: '' }), 'FST_SCHEDULER_NO_AUTH', /SCHEDULE_TOKEN/)
  throwsCoded(t, () => resolve(undefined, { SCHEDULE_TOKEN: ' , ' }), 'FST_SCHEDULER_NO_AUTH', /SCHEDULE_TOKEN/)
})

t.test('SCHEDULE_TOKEN is comma-separated and trimmed; a short entry fails the boot naming SCHEDULE_TOKEN', async t => {
  const auth = resolve(undefined, { SCHEDULE_TOKEN: ` ${TOKEN_A} ,${TOKEN_B}, ` })
  if (auth.tokens === undefined) return t.fail('expected tokens')
  t.equal(auth.tokens.slots.length, 2)
  t.ok(matchesToken(TOKEN_A, auth.tokens))
  t.ok(matchesToken(TOKEN_B, auth.tokens))
  throwsCoded(t, () => resolve(undefined, { SCHEDULE_TOKEN: SHORT }), 'FST_SCHEDULER_INVALID_OPTION', /SCHEDULE_TOKEN is 10 characters long; a token needs at least 16/, SHORT)
  throwsCoded(t, () => resolve(undefined, { SCHEDULE_TOKEN: `${TOKEN_A},${SHORT}` }), 'FST_SCHEDULER_INVALID_OPTION', /SCHEDULE_TOKEN \(token 2 of 2\) is 10 characters/, SHORT)
})

t.test('auth.tokens: each token is checked and named by index, never printed', async t => {
  throwsCoded(t, () => resolve({ tokens: [SHORT] }), 'FST_SCHEDULER_INVALID_OPTION', /auth\.tokens\[0\] is 10 characters long/, SHORT)
  throwsCoded(t, () => resolve({ tokens: [TOKEN_A, SHORT] }), 'FST_SCHEDULER_INVALID_OPTION', /auth\.tokens\[1\]/, SHORT)
  throwsCoded(t, () => resolve({ tokens: [] }), 'FST_SCHEDULER_INVALID_OPTION', /auth\.tokens is empty/)
  throwsCoded(t, () => resolve({ tokens: [TOKEN_A, 42] }), 'FST_SCHEDULER_INVALID_OPTION', /auth\.tokens\[1\] must be a string$/)
  throwsCoded(t, () => resolve({ tokens: [process.env.SCHEDULER_TEST_UNSET_VARIABLE] }), 'FST_SCHEDULER_INVALID_OPTION',
    /auth\.tokens\[0\] must be a string \(it is undefined: is the environment variable it is read from set\?\)/)
  const spaced = 'has a space 0123456789'
  throwsCoded(t, () => resolve({ tokens: [spaced] }), 'FST_SCHEDULER_INVALID_OPTION', /auth\.tokens\[0\] contains spaces/, spaced)
  throwsCoded(t, () => resolve({ tokens: 'x' }), 'FST_SCHEDULER_INVALID_OPTION', /auth\.tokens must be an array/)
})

t.test('auth.tokens wins over SCHEDULE_TOKEN', async t => {
  const auth = resolve({ tokens: [TOKEN_A] }, { SCHEDULE_TOKEN: TOKEN_B })
  if (auth.tokens === undefined) return t.fail('expected tokens')
  t.ok(matchesToken(TOKEN_A, auth.tokens))
  t.notOk(matchesToken(TOKEN_B, auth.tokens))
})

t.test('anything that is not an auth option fails the boot naming auth', async t => {
  for (const option of ['abc', true, null, 42, [TOKEN_A], () => true]) {
    throwsCoded(t, () => resolve(option), 'FST_SCHEDULER_INVALID_OPTION', /auth accepts \{ tokens/)
  }
  throwsCoded(t, () => resolve({ token: [TOKEN_A] }), 'FST_SCHEDULER_INVALID_OPTION', /auth\.token is not an option \(did you mean auth\.tokens\?\)/)
  throwsCoded(t, () => resolve({ basic: 'yes' }), 'FST_SCHEDULER_INVALID_OPTION', /auth\.basic must be true or false/)
  throwsCoded(t, () => resolve({ basic: true }), 'FST_SCHEDULER_INVALID_OPTION', /auth\.basic needs a token: set auth\.tokens or SCHEDULE_TOKEN/)
  throwsCoded(t, () => resolve({ authorize: 'yes' }), 'FST_SCHEDULER_INVALID_OPTION', /auth\.authorize must be a function/)
})

t.test('auth: false is an explicit opt-out that warns at boot', async t => {
  const warnings: string[] = []
  const auth = resolveAuth(false, { env: {}, allowQueryToken: false, log: silentLog(warnings) })
  t.equal(auth.none, true)
  t.equal(warnings.length, 1)
  t.match(warnings[0], /auth is false/)
})

t.test('allowQueryToken needs tokens', async t => {
  throwsCoded(t, () => resolve(false, {}, true), 'FST_SCHEDULER_INVALID_OPTION', /allowQueryToken: true needs tokens/)
  throwsCoded(t, () => resolve({ authorize: () => true }, {}, true), 'FST_SCHEDULER_INVALID_OPTION', /allowQueryToken needs a token: set auth\.tokens or SCHEDULE_TOKEN/)
  const auth = resolve({ tokens: [TOKEN_A] }, {}, true)
  t.equal(auth.allowQueryToken, true)
})

t.test('auth.authorize is kept as given', async t => {
  const authorize = (): boolean => true
  const auth = resolve({ authorize })
  t.same(auth, { none: false, basic: false, authorize, allowQueryToken: false })
})

t.test('methods combine: tokens with authorize, basic with SCHEDULE_TOKEN', async t => {
  const authorize = (): boolean => true
  const both = resolve({ tokens: [TOKEN_A], authorize })
  t.equal(both.authorize, authorize)
  t.ok(both.tokens !== undefined && matchesToken(TOKEN_A, both.tokens))
  const basic = resolve({ basic: true }, { SCHEDULE_TOKEN: TOKEN_B })
  t.equal(basic.basic, true)
  t.ok(basic.tokens !== undefined && matchesToken(TOKEN_B, basic.tokens), 'the token of SCHEDULE_TOKEN is the password')
  t.equal(resolve({}, { SCHEDULE_TOKEN: TOKEN_B }).tokens?.slots.length, 1, 'auth: {} reads SCHEDULE_TOKEN')
})

t.test('matchesToken accepts exactly the configured tokens', async t => {
  const auth = resolve({ tokens: [TOKEN_A, TOKEN_B] })
  if (auth.tokens === undefined) return t.fail('expected tokens')
  t.ok(matchesToken(TOKEN_A, auth.tokens))
  t.ok(matchesToken(TOKEN_B, auth.tokens))
  for (const wrong of ['', TOKEN_A.slice(0, -1), `${TOKEN_A}x`, TOKEN_A.toUpperCase(), 'x'.repeat(10_000)]) {
    t.notOk(matchesToken(wrong, auth.tokens), `refuses a token of length ${wrong.length}`)
  }
})

t.test('matchesToken: padding, cut-off and non-ASCII candidates never match a token they only resemble', async t => {
  const long = `${TOKEN_A}-and-some-more`
  const auth = resolve({ tokens: [TOKEN_A, long] })
  if (auth.tokens === undefined) return t.fail('expected tokens')
  t.ok(matchesToken(TOKEN_A, auth.tokens), 'the shorter token, compared in a slot as wide as the longer one')
  t.ok(matchesToken(long, auth.tokens))
  const lookalikes = [
    `${TOKEN_A}\0`, `${TOKEN_A}\0\0\0`, // zero bytes, like the padding of the slot
    `${long}x`, `${long}é`, // longer than every slot: cut to its width
    `${long.slice(0, -1)}é`, `${TOKEN_A.slice(0, -1)}é`, // same length in characters, a multi-byte last one
    `${TOKEN_A.slice(0, -1)}${String.fromCharCode(TOKEN_A.charCodeAt(TOKEN_A.length - 1) + 0x100)}` // same low byte
  ]
  for (const wrong of lookalikes) t.notOk(matchesToken(wrong, auth.tokens), JSON.stringify(wrong))
})

t.test('bearerToken reads the header as /^\\s*bearer\\s+(\\S+)\\s*$/i would', async t => {
  // The regular expression the hand-written scanner replaced, as the reference.
  const reference = (header: string | undefined): string | undefined => {
    if (header === undefined || header.trim() === '') return undefined
    const match = /^\s*bearer\s+(\S+)\s*$/i.exec(header)
    return match === null ? '' : match[1]
  }
  const cases = [
    undefined, '', '   ', '\t', 'Bearer abc', 'bearer abc', 'BEARER abc', 'BeArEr abc', '  Bearer   abc  ', '\tBearer\tabc\t',
    'Bearer', 'Bearer ', 'Bearerabc', 'Bearer a b', 'Basic abc', 'Bear abc', 'Bearer\u00a0abc', 'Bearer abc\u00a0',
    'bearer x', 'Bearer  x\r\n', 'Token abc', 'Bearer\vabc\f', '  b', 'Bearer \u00e9t\u00e9', 'bearer[abc',
    '\ufeffBearer abc', 'Bearer\u2028abc\u3000', 'Bearer \u1680abc', 'Bearer abc\u2000\u200a', 'Bearer a\u202fb'
  ]
  // Names in printable ASCII: a U+2028 in a test name would break the TAP stream.
  const named = (header: string | undefined) => String(JSON.stringify(header)).replace(/[^\x20-\x7e]/g, c => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  for (const header of cases) t.equal(bearerToken(header), reference(header), named(header))
  // And on random headers built from the characters that matter.
  const alphabet = ['B', 'b', 'e', 'E', 'a', 'r', 'R', ' ', '\t', 'x', '1', '\u00a0', '-', '\u2028', '\ufeff', '\u00e9']
  let seed = 42
  const random = (n: number) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n }
  let disagreements = 0
  for (let i = 0; i < 20_000; i++) {
    const prefix = random(2) === 0 ? ' '.repeat(random(3)) + ['Bearer', 'bearer', 'BEARER', 'Bearr'][random(4)] : ''
    let header = prefix
    const length = random(12)
    for (let j = 0; j < length; j++) header += alphabet[random(alphabet.length)]
    if (bearerToken(header) !== reference(header)) disagreements++
  }
  t.equal(disagreements, 0, '20,000 random headers: same answer as the regular expression')
})
