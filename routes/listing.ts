/** `GET <prefix>`: every task with its schedule, next and last run, plus the store and last tick (SPEC §6). */
import type { ScheduleApp, ScheduleRoutesOptions } from './index.js'
import { listingResponses, NoQuery } from './schemas.js'

export function listingRoute (app: ScheduleApp, opts: ScheduleRoutesOptions): void {
  app.get('/', {
    schema: {
      summary: 'List the tasks',
      description: 'Every task with its schedule (in English and as cron where one exists), time zone, next run, last run and whether it runs now; plus the store and the last tick.',
      querystring: NoQuery,
      response: listingResponses
    }
  }, async () => opts.scheduler.list())
}
