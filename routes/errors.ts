/**
 * How the /_schedule routes answer errors: always JSON `{ statusCode, code, error, message }`,
 * 4xx for anything the caller sent, 503 when the store is down, and a bare 500 (details in
 * the log only) for faults of our own. The errors themselves are defined in core/errors.ts.
 */
import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { BadRequestError, ClosedError, InternalError, NotFoundError, StoreUnavailableError } from '../core/errors.js'

export interface ErrorAnswer { statusCode: number, code: string, error: string, message: string }

function errorBody (statusCode: number, code: string, message: string): ErrorAnswer {
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message }
}

/** The JSON answer of a coded error, with its own status. */
export function errorAnswer (error: { statusCode?: number | undefined, code: string, message: string }): ErrorAnswer {
  return errorBody(error.statusCode ?? 500, error.code, error.message)
}

/** The error handler of the encapsulated routes. */
export function replyWithError (error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const statusCode = error.statusCode ?? 500
  if (statusCode >= 400 && statusCode < 500) {
    request.log.info({ code: error.code, statusCode }, error.message)
    const code = error.code ?? new BadRequestError(error.message).code
    return reply.code(statusCode).send(errorBody(statusCode, code, error.message))
  }
  // Errors of the scheduler that reach the caller as 503 with their message.
  if (error instanceof StoreUnavailableError || error instanceof ClosedError) {
    request.log.warn({ err: error }, error.message)
    return reply.code(503).send(errorAnswer(error))
  }
  request.log.error({ err: error }, 'fastify-scheduler: unexpected error in a /_schedule route')
  return reply.code(500).send(errorAnswer(new InternalError()))
}

/** 404 for any other path under the prefix, naming the path without its query (which may hold a token). */
export function replyNotFound (request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = request.url.split('?')[0]
  return reply.code(404).send(errorAnswer(new NotFoundError(`no route ${request.method} ${path}`)))
}
