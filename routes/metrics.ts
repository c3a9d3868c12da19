/**
 * `GET <prefix>/metrics`: the Prometheus text format (docs/OBSERVABILITY.md). Behind the
 * routes' credentials unless `metrics: { auth: false }`; the scrape reads the cluster's task
 * gauges from the store through a short cache.
 */
import type { FastifySchema } from 'fastify'
import type { Registry } from 'prom-client'
import type { ScheduleApp } from './types.js'
import { metricsResponses } from './schemas.js'

export function metricsRoute (app: ScheduleApp, registry: Registry): void {
  app.get('/metrics', {
    schema: {
      summary: 'Prometheus metrics',
      description: 'The fastify_scheduler_* families in the Prometheus text format: runs, durations and lateness of this process, store calls, and the cluster\'s task gauges (last success, last run by status, consecutive failures, next run, last tick) read from the store.',
      produces: ['text/plain'],
      response: metricsResponses
    } as FastifySchema
  }, async (request, reply) => {
    const text = await registry.metrics()
    return reply.type(registry.contentType).send(text)
  })
}
