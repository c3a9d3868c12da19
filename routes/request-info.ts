/**
 * What a task sees of the HTTP request that triggered it (`ctx.request`), and the URL
 * redaction that logs share: no credential ever leaves the request through either.
 */
import type { FastifyRequest } from 'fastify'
import type { TaskRequestInfo } from '../tasks/types.js'

/** Query parameters removed from every URL we log or hand to a task (compared case-insensitively). */
const SECRET_QUERY_PARAMS = new Set([
  'token', 'access_token', 'api_key', 'apikey', 'key', 'secret', 'client_secret', 'password', 'signature', 'sig'
])

/** Headers never handed to a task. */
const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'x-api-key'])
/** Any header whose name contains one of these is dropped too (`x-auth-token`, `x-webhook-secret`). */
const SECRET_HEADER_WORDS = ['token', 'secret', 'password', 'api-key', 'apikey']

/** The URL without secret query parameters; the same string when it has none. */
export function redactUrl (url: string): string {
  const queryStart = url.indexOf('?')
  if (queryStart === -1) return url
  const params = new URLSearchParams(url.slice(queryStart + 1))
  const secrets = [...params.keys()].filter(name => SECRET_QUERY_PARAMS.has(name.toLowerCase()))
  if (secrets.length === 0) return url
  for (const name of secrets) params.delete(name)
  const query = params.toString()
  return url.slice(0, queryStart) + (query === '' ? '' : `?${query}`)
}

/** Whether a header may be shown to a task. */
function isPublicHeader (name: string): boolean {
  const lower = name.toLowerCase()
  return !SECRET_HEADERS.has(lower) && !SECRET_HEADER_WORDS.some(word => lower.includes(word))
}

/** A copy of the headers without credentials. */
export function redactHeaders (headers: FastifyRequest['headers']): TaskRequestInfo['headers'] {
  // fromEntries defines own properties, so even a header named __proto__ stays a plain entry
  return Object.fromEntries(Object.entries(headers).filter(([name]) => isPublicHeader(name)))
}

/** The request as a task sees it: id, ip, method, URL and headers, with every credential removed. */
export function requestInfo (request: FastifyRequest): TaskRequestInfo {
  return {
    id: String(request.id),
    ip: request.ip,
    method: request.method,
    url: redactUrl(request.url),
    headers: redactHeaders(request.headers)
  }
}
