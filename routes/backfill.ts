/**
 * Backfill (docs/PAYLOADS.md#backfills), with the listing's auth:
 *
 *   POST <prefix>/tasks/:name/backfill  { from, to }  → 202 the backfill, its id and occurrence count
 *
 * Every occurrence of the task's schedule in [from, to] runs once, oldest first, one per
 * whole tick, on whichever replica ticks. From after to, a range ending in the future, none
 * or more than `maxBackfill` occurrences answer 400; an unknown task 404; the store down 503.
 */
import type { ScheduleApp, ScheduleRoutesOptions } from './types.js'
import { BackfillBody, backfillResponses, TaskParams } from './schemas.js'

export function backfillRoutes (app: ScheduleApp, opts: ScheduleRoutesOptions): void {
  const { scheduler } = opts
  app.post('/tasks/:name/backfill', {
    schema: {
      summary: 'Backfill a task\'s past occurrences',
      description: 'Every occurrence of the task\'s schedule in [from, to] runs once, oldest first, one per tick; occurrences that already have a run record are skipped. The same backfill sent twice is one backfill.',
      params: TaskParams,
      body: BackfillBody,
      response: backfillResponses
    }
  }, async (request, reply) => {
    const answer = await scheduler.backfill(request.params.name, { from: new Date(request.body.from), to: new Date(request.body.to) })
    return await reply.code(202).send(answer)
  })
}
