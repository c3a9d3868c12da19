/**
 * HTTP Basic for pingers that cannot send a header of their own but offer a user name and
 * password (docs/TRIGGERS.md#pingers): with `auth.basic: true` the token is accepted as the
 * password, whatever the user name. Also the reader of every Authorization header that is
 * not a plain bearer token, which tells the 401 what was wrong (docs/TRIGGERS.md#401-answers).
 */

/**
 * What an Authorization header that is not a plain bearer token holds (the slow path, taken
 * only by refusals, HTTP Basic and malformed headers):
 * - `empty`: the Bearer or Basic scheme with nothing after it, or a Basic password that is empty;
 * - `malformed`: a Bearer value that is not one token (`Bearer a b`), Basic without a colon: never valid;
 * - `basic`: the password of HTTP Basic (any user name);
 * - `scheme`: another scheme, or a bare value with no scheme.
 */
export type OtherCredentials =
  | { kind: 'empty' }
  | { kind: 'malformed' }
  | { kind: 'basic', password: string }
  | { kind: 'scheme' }

export function otherCredentials (header: string): OtherCredentials {
  const trimmed = header.trim()
  const space = trimmed.search(/\s/)
  const scheme = (space === -1 ? trimmed : trimmed.slice(0, space)).toLowerCase()
  const rest = space === -1 ? '' : trimmed.slice(space).trim()
  if (scheme !== 'bearer' && scheme !== 'basic') return { kind: 'scheme' }
  if (rest === '') return { kind: 'empty' }
  if (scheme === 'bearer') return { kind: 'malformed' }
  // user:password, base64 (RFC 7617); the password may itself hold colons.
  const decoded = Buffer.from(rest, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon === -1) return { kind: 'malformed' }
  const password = decoded.slice(colon + 1)
  return password === '' ? { kind: 'empty' } : { kind: 'basic', password }
}
