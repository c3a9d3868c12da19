/**
 * Body parsers of the encapsulated routes. Pingers send empty bodies with whatever content
 * type their author picked (`application/json`, `text/plain`, a form, none): an empty body
 * is no input, never a 400 or 415. JSON and form bodies may carry `task`, `force`, `wait`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { InvalidInputError, UnsupportedBodyError } from '../core/errors.js'

/** Form fields as an object; a repeated field becomes an array (`task=a&task=b`). */
export function formFields (body: string): Record<string, string | string[]> {
  const fields = new Map<string, string | string[]>()
  for (const [name, value] of new URLSearchParams(body)) {
    const previous = fields.get(name)
    fields.set(name, previous === undefined ? value : [previous, value].flat())
  }
  // fromEntries defines own properties: a field named __proto__ stays a plain (unknown) field.
  return Object.fromEntries(fields)
}

function isBlank (body: string | Buffer): boolean {
  return body.toString().trim() === ''
}

/** True when the request declares no body: no Transfer-Encoding, Content-Length absent or 0. */
function declaresNoBody (headers: FastifyRequest['headers']): boolean {
  const length = headers['content-length']
  return headers['transfer-encoding'] === undefined && (length === undefined || length === '0')
}

/**
 * Fastify answers 415 to a malformed Content-Type before any parser runs, even with no body.
 * With no body the type means nothing: drop it, so the request is an empty ping. Called by
 * the guarded routes' onRequest hook (see index.ts) rather than from a preParsing hook of
 * its own: each hook phase Fastify runs costs a hook runner per request.
 */
export function ignoreTypeOfEmptyBody (request: FastifyRequest): void {
  if (request.headers['content-type'] !== undefined && declaresNoBody(request.headers)) delete request.headers['content-type']
}

/** Replace the inherited parsers of this (encapsulated) instance with the lenient ones. */
export function acceptPingerBodies (app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeAllContentTypeParsers()

  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (isBlank(body)) return done(null, undefined)
    parseJson(request, body as string, (err, parsed) => {
      if (err !== null) return done(new InvalidInputError('body is not valid JSON'), undefined)
      done(null, parsed)
    })
  })
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (request, body, done) => {
    done(null, isBlank(body) ? undefined : formFields(body as string))
  })
  // Anything else (text/plain, octet-stream, no content type): fine when empty.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
    if (isBlank(body)) return done(null, undefined)
    const type = request.headers['content-type']?.split(';')[0].trim().slice(0, 100)
    done(new UnsupportedBodyError(type === undefined || type === '' ? '(none)' : type), undefined)
  })
}
