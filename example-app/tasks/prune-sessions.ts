/**
 * Every hour, deletes the sessions that have expired (object form). "Expired" is measured at
 * the occurrence being run (`scheduledFor`), so a test's `tick(new Date(...))` and a late
 * catch-up run see the same instant; a session expiring after it goes at the next run.
 */
import { defineTask } from '../../index.js'

export default defineTask({
  runEveryHour: true,
  timeout: '1 minute',
  async handle ({ app, log, scheduledFor }) {
    const { changes } = app.db.prepare('DELETE FROM sessions WHERE expires_at <= ?').run(scheduledFor.getTime())
    log.info({ deleted: changes }, 'expired sessions pruned')
  }
})
