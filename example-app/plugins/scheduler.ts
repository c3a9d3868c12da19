/**
 * fastify-scheduler, imported from the package root as an app would import
 * 'fastify-scheduler'. Tasks come from `../tasks` (a path from this file, so the app works
 * from any working directory); the store is SQLite under the data folder unless the app was
 * given one (tests pass `memoryStore()`).
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
}, { name: 'scheduler', fastify: '5.x', dependencies: ['db', 'mail'] })
