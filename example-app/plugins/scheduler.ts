/**
 * fastify-scheduler, imported from the package root as an app would import
 * 'fastify-scheduler'. Tasks come from `../tasks` (a path from this file, so the app works
 * from any working directory); the store is SQLite under the data folder unless the app was
 * given one (tests pass `memoryStore()`). When a run fails or times out, the admin gets a
 * mail through `app.mail` (an `onRunEnd` hook: called after the run's record is written,
 * bounded in time, and unable to change the run's outcome).
 */
import { join } from 'node:path'
import fp from 'fastify-plugin'
import fastifyScheduler, { sqliteStore } from '../../index.js'

export default fp(async (app) => {
  const { store, schedulerDbPath, timezone, scheduleToken } = app.config
  await app.register(fastifyScheduler, {
    dir: join(import.meta.dirname, '..', 'tasks'),
    store: store ?? sqliteStore({ path: schedulerDbPath }),
    ...(timezone !== undefined ? { timezone } : {}),
    // Without a token here, the plugin reads SCHEDULE_TOKEN from the environment.
    ...(scheduleToken !== undefined ? { auth: { tokens: [scheduleToken] } } : {})
  })
  app.scheduler.addHook('onRunEnd', async (run) => {
    if (run.status !== 'failed' && run.status !== 'timed_out') return
    await app.mail.send({
      to: app.config.adminEmail,
      subject: `[scheduler] ${run.task} ${run.status === 'failed' ? 'failed' : 'timed out'}`,
      text: [
        `Task: ${run.task}`,
        `Occurrence: ${run.scheduledFor.toISOString()} (attempt ${run.attempt}${run.forced ? ', forced' : ''})`,
        `Started: ${run.startedAt.toISOString()} on ${run.instance ?? 'an unknown process'}`,
        `Duration: ${run.durationMs ?? '?'} ms`,
        '',
        run.error ?? '(no message)'
      ].join('\n')
    })
  })
}, { name: 'scheduler', fastify: '5.x', dependencies: ['db', 'mail'] })
