/**
 * The store's clock is the clock of record (docs/ARCHITECTURE.md#time), against the real
 * Redis and PostgreSQL clocks: a replica whose clock runs an hour ahead or behind claims
 * nothing (503 naming the skew, health 503), while a replica on the right time runs every
 * occurrence once. The replicas' clocks are `clock` options around the machine's clock,
 * which the servers here share.
 */
import t, { type Test } from 'tap'
import { postgresStore, redisStore } from '../../index.js'
import type { Store } from '../../plugin/stores/store.js'
import { defineTask } from '../../tasks/task.js'
import { buildApp } from '../helpers/app.js'
import { reportLedger } from '../helpers/ledger.js'
import { postgresService, redisService } from '../helpers/services.js'

const HOUR = 3_600_000

async function skewScenario (t: Test, kind: string, makeStore: () => Store): Promise<void> {
  const ledger: string[] = []
  const task = () => defineTask({ name: 'minutely', runEveryMinute: true, handle (ctx) { ledger.push(ctx.scheduledFor.toISOString()) } })
  const ahead = await buildApp({ store: makeStore(), clock: () => Date.now() + HOUR, tasks: [task()] })
  const behind = await buildApp({ store: makeStore(), clock: () => Date.now() - HOUR, tasks: [task()] })
  const onTime = await buildApp({ store: makeStore(), tasks: [task()] })
  t.teardown(async () => { await ahead.close(); await behind.close(); await onTime.close() })

  await t.rejects(ahead.scheduler.tick(), { code: 'FST_SCHEDULER_STORE_UNAVAILABLE', message: /clock skew \+3600 s against the store/ }, 'an hour ahead: refused, naming the skew')
  await t.rejects(behind.scheduler.tick(), { code: 'FST_SCHEDULER_STORE_UNAVAILABLE', message: /clock skew -3600 s against the store/ }, 'an hour behind: refused')
  t.match(await ahead.scheduler.health(), { healthy: false, status: 'clock skew', reason: /\+3600 s/ })
  t.match(await behind.scheduler.health(), { healthy: false, status: 'clock skew', reason: /-3600 s/ })

  const result = await onTime.scheduler.tick()
  await result.settled
  t.equal(ledger.length, 1, 'the replica on time ran the due occurrence')
  await t.rejects(ahead.scheduler.tick(), { message: /clock skew/ }, 'the fast replica still claims nothing')
  t.equal(ledger.length, 1, 'and nothing ran twice')
  t.equal((await onTime.scheduler.list()).tasks[0]?.lastRun?.status, 'succeeded')
  const minute = new Date(Math.floor(Date.now() / 60_000) * 60_000)
  t.match(reportLedger(t, `replicas an hour ahead and behind the ${kind} clock`, [ledger[0] ?? minute.toISOString()], ledger), { lost: 0, duplicated: 0 })
}

t.test('Redis: its TIME is the clock of record', async t => {
  const redis = await redisService(t)
  if (redis === undefined) return
  await skewScenario(t, 'Redis', () => redisStore({ url: redis.url, prefix: redis.prefix }))
})

t.test('PostgreSQL: its clock_timestamp() is the clock of record', async t => {
  const postgres = await postgresService(t)
  if (postgres === undefined) return
  await skewScenario(t, 'PostgreSQL', () => postgresStore({ connectionString: postgres.connectionString, schema: postgres.schema }))
})
