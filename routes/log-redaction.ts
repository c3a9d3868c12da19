/**
 * Keep tokens out of the logs of the /_schedule routes. Fastify logs "incoming request"
 * with the URL before any hook runs, so a `?token=` would be written as sent; the request
 * loggers of these routes (and of their 404s) get a `req` serializer that drops secret
 * query parameters. After auth the raw URL itself is rewritten (see `auth/index.ts`).
 *
 * A child-logger factory rather than route `logSerializers`: it also reaches the not-found
 * handler under the prefix, which route options cannot, and it wraps the app's own factory.
 */
import type { FastifyInstance } from 'fastify'
import { redactUrl } from './request-info.js'

type ChildLoggerFactory = FastifyInstance['childLoggerFactory']

interface LoggedRequest {
  method?: string
  url?: string
  headers?: Record<string, unknown>
  host?: string
  ip?: string
  socket?: { remotePort?: number }
}

/** Fastify's default `req` serializer, with the URL redacted. Also accepts a raw IncomingMessage. */
export function redactedRequest (req: LoggedRequest): Record<string, unknown> {
  return {
    method: req.method,
    url: typeof req.url === 'string' ? redactUrl(req.url) : req.url,
    version: req.headers?.['accept-version'],
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort
  }
}

/**
 * Wrap `parent` so the logger of every request whose URL holds a secret serializes `req`
 * through `redactedRequest`. Any other request (a pinger sending its token in a header)
 * gets the parent's logger unchanged: a pino child with serializers of its own costs
 * several µs per request, and with nothing to redact it would log the same line.
 */
export function redactingLoggerFactory (parent: ChildLoggerFactory): ChildLoggerFactory {
  return function childLogger (logger, bindings, options, rawRequest) {
    const url = rawRequest.url
    if (url === undefined || redactUrl(url) === url) return parent.call(this, logger, bindings, options, rawRequest)
    // Inherit the route's own serializers (pino reads inherited keys), override only `req`.
    const serializers = Object.assign(Object.create(options.serializers ?? null) as object, { req: redactedRequest })
    return parent.call(this, logger, bindings, { ...options, serializers }, rawRequest)
  }
}
