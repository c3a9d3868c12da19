/**
 * `GET <prefix>/health`: the dead-man's switch an outside monitor watches (docs/ARCHITECTURE.md#the-http-routes, #notifications-and-the-dashboard).
 * Cluster-wide: 200 when any replica ticked within `expectTickEvery` and the store answers;
 * 503 otherwise, with the reason. The cluster's last tick is read from the store through a
 * short cache (`app.scheduler.health()`), so a flood of these unauthenticated requests costs
 * at most one store read every few seconds. No auth, and no task names.
 */
import type { ScheduleApp, ScheduleRoutesOptions } from './types.js'
import { healthResponses } from './schemas.js'

export function healthRoute (app: ScheduleApp, opts: ScheduleRoutesOptions): void {
  app.get('/health', {
    schema: {
      summary: 'Is the scheduler being pinged?',
      description: `200 when any replica ticked within expectTickEvery (${opts.expectTickEveryMs / 1000} s) and the store answers, 503 otherwise. Needs no credentials and names no task.`,
      response: healthResponses
    }
  }, async (request, reply) => {
    const { healthy, status, lastTick, reason, paused, tasks } = await opts.scheduler.health()
    return reply.code(healthy ? 200 : 503).send({ status, lastTick, reason, paused, ...(tasks !== undefined ? { tasks } : {}) })
  })
}
