/**
 * Static tokens (docs/TRIGGERS.md): `auth.tokens` or `SCHEDULE_TOKEN`, sent as
 * `Authorization: Bearer <token>`, as the password of HTTP Basic (`auth.basic`) or, when
 * allowed, as `?token=`. Checked at boot (a weak or malformed token fails it) and compared in
 * constant time on every request.
 */
import { timingSafeEqual } from 'node:crypto'
import { InvalidOptionError, MissingAuthError } from '../../core/errors.js'

export const MIN_TOKEN_LENGTH = 16
export const TOKEN_ENV = 'SCHEDULE_TOKEN'

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

// Printable ASCII without spaces: anything else cannot travel in an Authorization header.
const TOKEN_CHARACTERS = /^[\x21-\x7e]+$/

export function fail (message: string): never {
  throw new InvalidOptionError(message)
}

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

/** Check one secret; `name` says where it came from. The secret itself never appears in a message. */
export function checkToken (token: unknown, name: string): string {
  if (typeof token !== 'string') {
    fail(`${name} must be a string${token === undefined ? ' (it is undefined: is the environment variable it is read from set?)' : ''}`)
  }
  if (token.length < MIN_TOKEN_LENGTH) {
    fail(`${name} is ${token.length} characters long; a token needs at least ${MIN_TOKEN_LENGTH} (generate one with \`openssl rand -hex 32\`)`)
  }
  if (!TOKEN_CHARACTERS.test(token)) fail(`${name} contains spaces or characters that cannot be sent in an Authorization header`)
  return token
}

/** `auth.tokens`, checked. */
export function tokensFromOption (tokens: unknown): TokenSlots {
  if (!Array.isArray(tokens)) fail('auth.tokens must be an array of strings (several allow rotation)')
  if (tokens.length === 0) fail(`auth.tokens is empty: give at least one token of ${MIN_TOKEN_LENGTH}+ characters`)
  return tokenSlots(tokens.map((token, i) => checkToken(token, `auth.tokens[${i}]`)))
}

/** `SCHEDULE_TOKEN` (comma-separated), checked; `MissingAuthError` when it is unset or blank. */
export function tokensFromEnv (value: string | undefined): TokenSlots {
  const tokens = (value ?? '').split(',').map(token => token.trim()).filter(token => token !== '')
  if (tokens.length === 0) throw new MissingAuthError()
  return tokenSlots(tokens.map((token, i) =>
    checkToken(token, tokens.length === 1 ? TOKEN_ENV : `${TOKEN_ENV} (token ${i + 1} of ${tokens.length})`)))
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
