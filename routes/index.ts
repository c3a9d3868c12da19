/**
 * The /_schedule routes (docs/ARCHITECTURE.md#the-http-routes), an encapsulated plugin the scheduler plugin registers
 * with `{ prefix }`. Everything set here — validator, error handler, body parsers, log
 * redaction, auth — stays inside it and never changes the app's other routes.
 *
 *   GET  <prefix>/health   no auth: 200 when ticks arrive, 503 otherwise
 *   POST <prefix>/run      tick now (GET too with allowGetTrigger)
 *   GET  <prefix>          the listing
 *   GET  <prefix>/runs     run history
 *   POST <prefix>/pause, <prefix>/resume, <prefix>/tasks/:name/pause|resume   (docs/PAUSE.md)
 *   GET  <prefix>/ui       the dashboard page (no auth: it carries no data; option `ui`)
 *   GET  <prefix>/metrics  Prometheus text (auth unless `metrics: { auth: false }`)
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { addSignedBodyHook, authHook, type ResolvedAuth } from './auth/index.js'
import { acceptPingerBodies, ignoreTypeOfEmptyBody } from './body-parsers.js'
import { serializerCompiler, validatorCompiler } from './compilers.js'
import { replyNotFound, replyWithError } from './errors.js'
import { healthRoute } from './health.js'
import { historyRoute } from './history.js'
import { listingRoute } from './listing.js'
import { backfillRoutes } from './backfill.js'
import { pauseRoutes } from './pause.js'
import { metricsRoute } from './metrics.js'
import { redactingLoggerFactory } from './log-redaction.js'
import { triggerRoutes } from './trigger.js'
import type { ScheduleRoutesOptions } from './types.js'
import { uiRoute } from './ui.js'

export type { ScheduleApp, ScheduleRoutesOptions } from './types.js'

/** Answers must never be cached: a cached health 200 would hide a dead pinger. */
function noStore (reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store')
}

function noStoreHook (request: FastifyRequest, reply: FastifyReply, done: () => void): void {
  noStore(reply)
  done()
}

/**
 * The one onRequest hook of the guarded routes: no-store, an empty body's content type
 * dropped, then the credentials. One hook rather than one per concern, and none in the
 * preParsing phase: Fastify runs each phase through a hook runner of its own per request.
 */
function guardHook (auth: ResolvedAuth): onRequestHookHandler {
  const checkCredentials = authHook(auth)
  return function guard (request, reply, done) {
    noStore(reply)
    ignoreTypeOfEmptyBody(request)
    checkCredentials.call(this, request, reply, done)
  }
}

export const scheduleRoutes: FastifyPluginAsync<ScheduleRoutesOptions> = async (instance, opts) => {
  const app = instance.withTypeProvider<TypeBoxTypeProvider>()
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  app.setErrorHandler(replyWithError)
  app.setChildLoggerFactory(redactingLoggerFactory(app.childLoggerFactory))
  // A prefix of '' or '/' would make this the whole app's 404 handler.
  if (app.prefix !== '' && app.prefix !== '/') app.setNotFoundHandler((request, reply) => replyNotFound(request, noStore(reply)))

  // Hooks live in sibling plugins, so the guarded routes run the guard alone.
  await app.register(async function openRoutes (open) {
    open.addHook('onRequest', noStoreHook)
    healthRoute(open, opts)
    if (opts.ui) uiRoute(open)
    if (opts.metrics?.auth === false) metricsRoute(open, opts.metrics.registry)
  })
  await app.register(async function guardedRoutes (guarded) {
    guarded.addHook('onRequest', guardHook(opts.auth))
    if (opts.auth.qstash !== undefined) addSignedBodyHook(guarded, opts.auth, opts.claimOnce!)
    acceptPingerBodies(guarded)
    triggerRoutes(guarded, opts)
    listingRoute(guarded, opts)
    historyRoute(guarded, opts)
    pauseRoutes(guarded, opts)
    backfillRoutes(guarded, opts)
    if (opts.metrics?.auth === true) metricsRoute(guarded, opts.metrics.registry)
  })
}
