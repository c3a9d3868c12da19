/**
 * Errors of the /_schedule routes and how they are answered: always JSON
 * `{ statusCode, code, error, message }`, 4xx for anything the caller sent, 503 when the
 * store is down, and a bare 500 (details in the log only) for faults of our own.
 */
import { STATUS_CODES } from 'node:http'
import createError from '@fastify/error'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'

/** Input that does not match a route's schema: `%s` names the field and what it accepts. */
export const InvalidInputError = createError<'FST_SCHEDULER_INVALID_INPUT', [string]>(
  'FST_SCHEDULER_INVALID_INPUT', '%s', 400)

/** A non-empty body of a kind the trigger does not read. */
export const UnsupportedBodyError = createError<'FST_SCHEDULER_UNSUPPORTED_BODY', [string]>(
  'FST_SCHEDULER_UNSUPPORTED_BODY', 'a body of type %s is not read here: send JSON, a form, or no body at all', 415)

/** Errors of the scheduler that reach the caller as 503 with their message. */
const UNAVAILABLE_CODES = new Set(['FST_SCHEDULER_STORE_UNAVAILABLE', 'FST_SCHEDULER_CLOSED'])

export function errorBody (statusCode: number, code: string, message: string): {
  statusCode: number, code: string, error: string, message: string
} {
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message }
}

/** The error handler of the encapsulated routes. */
export function replyWithError (error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const statusCode = error.statusCode ?? 500
  if (statusCode >= 400 && statusCode < 500) {
    request.log.info({ code: error.code, statusCode }, error.message)
    return reply.code(statusCode).send(errorBody(statusCode, error.code ?? 'FST_SCHEDULER_BAD_REQUEST', error.message))
  }
  if (UNAVAILABLE_CODES.has(error.code)) {
    request.log.warn({ err: error }, error.message)
    return reply.code(503).send(errorBody(503, error.code, error.message))
  }
  request.log.error({ err: error }, 'fastify-scheduler: unexpected error in a /_schedule route')
  return reply.code(500).send(errorBody(500, 'FST_SCHEDULER_INTERNAL', 'Internal error; the server log has the details'))
}

/** 404 for any other path under the prefix, naming the path without its query (which may hold a token). */
export function replyNotFound (request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = request.url.split('?')[0]
  return reply.code(404).send(errorBody(404, 'FST_SCHEDULER_NOT_FOUND', `no route ${request.method} ${path}`))
}
