/** `GET <prefix>`: every task with its schedule, next and last run, plus the store and last tick (docs/ARCHITECTURE.md#the-http-routes). */
import type { ScheduleApp, ScheduleRoutesOptions } from './types.js'
import { ListingQuery, listingResponses } from './schemas.js'

export function listingRoute (app: ScheduleApp, opts: ScheduleRoutesOptions): void {
  app.get('/', {
    schema: {
      summary: 'List the tasks',
      description: 'Every task with its schedule (in English and as cron where one exists), time zone, next runs, last finished run with its error, the run going on now, consecutive failures and recent runs; plus the store and the cluster\'s last tick.',
      querystring: ListingQuery,
      response: listingResponses
    }
  }, async (request) => {
    const { upcoming, recent } = request.query
    return await opts.scheduler.list({ ...(upcoming !== undefined ? { upcoming } : {}), ...(recent !== undefined ? { recent } : {}) })
  })
}
