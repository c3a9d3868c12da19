/**
 * `GET <prefix>/health`: the dead-man's switch an outside monitor watches (SPEC §6). 200 when
 * a tick arrived within `expectTickEvery`, 503 otherwise. No auth, and no task names.
 */
import type { ScheduleApp, ScheduleRoutesOptions } from './index.js'
import { healthResponses } from './schemas.js'

export function healthRoute (app: ScheduleApp, opts: ScheduleRoutesOptions): void {
  app.get('/health', {
    schema: {
      summary: 'Is the scheduler being pinged?',
      description: `200 when a tick arrived within expectTickEvery (${opts.expectTickEveryMs / 1000} s), 503 otherwise. Needs no credentials and names no task.`,
      response: healthResponses
    }
  }, async (request, reply) => {
    const lastTickAt = opts.scheduler.lastTickAt
    const lastTick = lastTickAt?.toISOString() ?? null
    if (lastTickAt === undefined) return reply.code(503).send({ status: 'no tick yet', lastTick })
    const fresh = opts.clock() - lastTickAt.getTime() <= opts.expectTickEveryMs
    return reply.code(fresh ? 200 : 503).send({ status: fresh ? 'ok' : 'stale', lastTick })
  })
}
