/**
 * Store outages through the whole plugin (docs/ARCHITECTURE.md#the-fault-model): with Redis or PostgreSQL unreachable,
 * the trigger answers 503 with a clear message and nothing runs; when the store is back,
 * ticks work again without a restart. The app also boots while a network store is down.
 */
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyScheduler from '../../plugin.js'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { postgresStore } from '../../plugin/stores/postgres/index.js'
import { sqliteStore } from '../../plugin/stores/sqlite/index.js'
import { redisStore } from '../../plugin/stores/redis/index.js'
import type { Store } from '../../plugin/stores/store.js'
import { defineTask } from '../../tasks/task.js'
import { eventually, postgresProxy, startRedisServer, stopRedisServer } from '../helpers/outage.js'
import { freePort, needs, postgresService } from '../helpers/services.js'
import { testClock, type TestClock } from '../helpers/app.js'

const TOKEN = 'outage-test-token-0123456789'
const canStartRedis = needs(spawnSync('redis-server', ['--version']).error === undefined
  ? undefined
  : 'redis-server is not installed; the outage test starts and kills its own server')

/** Leases use the hand clock; the trigger ticks at the clock's now. */
const clock: TestClock = testClock(Date.parse('2026-05-12T10:00:00Z'))

async function appOn (store: Store, runs: string[]): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(fastifyScheduler, {
    dir: false,
    clock,
    maxClockSkew: false, // time is the hand clock, not the servers'
    store,
    timezone: 'UTC',
    auth: { tokens: [TOKEN] },
    tasks: [defineTask({ name: 'every-minute', runEveryMinute: true, handle (ctx) { runs.push(ctx.scheduledFor.toISOString()) } })]
  })
  await app.ready()
  return app
}

function trigger (app: FastifyInstance) {
  return app.inject({ method: 'POST', url: '/_schedule/run', headers: { authorization: `Bearer ${TOKEN}` } })
}

/** Trigger until the store answers again: the client reconnects by itself (no restart, no new store). */
function triggerOnceUp (app: FastifyInstance) {
  return eventually(async () => {
    const response = await trigger(app)
    if (response.statusCode === 503) throw new Error('still down')
    return response
  }, 15_000)
}

/**
 * Down: 503 naming the store problem and nothing run. Back: 200 and the task runs once. When
 * the store comes back empty (`stateLost`: a Redis restarted without persistence), the minute
 * that found it empty is not run — as far as the new state can tell, another replica ran it
 * before the loss (docs/ARCHITECTURE.md#a-store-that-goes-back-in-time) — and the next one runs once.
 */
async function outageAndRecovery (t: Test, app: FastifyInstance, runs: string[], cut: () => Promise<void>, restore: () => Promise<void>, stateLost = false): Promise<void> {
  const before = await trigger(app)
  t.equal(before.statusCode, 200)
  t.equal(runs.length, 1)

  await cut()
  clock.advance(60_000) // a new minute: the task is due, so the tick must reach the store
  const down = await trigger(app)
  t.equal(down.statusCode, 503)
  t.match(down.json(), { message: /store is unavailable, no task ran/ })
  const listing = await app.inject({ method: 'GET', url: '/_schedule', headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(listing.statusCode, 503, 'the listing says so too')
  t.equal(runs.length, 1, 'nothing ran while the store was down')

  await restore()
  clock.advance(60_000)
  const back = await triggerOnceUp(app)
  t.equal(back.statusCode, 200)
  if (stateLost) {
    t.equal(runs.length, 1, 'the store came back empty: the minute that found it so is not run (it may have run before the loss)')
    clock.advance(60_000)
    t.equal((await triggerOnceUp(app)).statusCode, 200)
  }
  t.equal(runs.length, 2, 'the occurrence owed since the outage ran once')
  t.equal(new Set(runs).size, runs.length, 'no occurrence ran twice')
}

t.test('Redis: 503 while down, recovers by itself', canStartRedis, async t => {
  const port = await freePort()
  let server = await startRedisServer(port)
  t.teardown(() => stopRedisServer(server))
  const runs: string[] = []
  const app = await appOn(redisStore({ url: `redis://127.0.0.1:${port}`, prefix: 'outage-plugin:' }), runs)
  t.teardown(() => app.close())
  await outageAndRecovery(t, app, runs,
    () => stopRedisServer(server),
    async () => { server = await startRedisServer(port) },
    true)
})

t.test('PostgreSQL: 503 while down, recovers by itself', async t => {
  const postgres = await postgresService(t)
  if (postgres === undefined) return
  const proxy = await postgresProxy(await freePort())
  t.teardown(() => proxy.cut().catch(() => {}))
  const runs: string[] = []
  const app = await appOn(postgresStore({ connectionString: proxy.connectionString, schema: postgres.schema }), runs)
  t.teardown(() => app.close())
  await outageAndRecovery(t, app, runs, () => proxy.cut(), () => proxy.restore())
})

t.test('the app boots while a network store is down, and ticks once it is up', canStartRedis, async t => {
  const port = await freePort()
  const runs: string[] = []
  const app = await appOn(redisStore({ url: `redis://127.0.0.1:${port}`, prefix: 'outage-boot:' }), runs)
  t.teardown(() => app.close())
  t.equal((await trigger(app)).statusCode, 503)
  const server = await startRedisServer(port)
  t.teardown(() => stopRedisServer(server))
  const back = await triggerOnceUp(app)
  t.equal(back.statusCode, 200)
  t.equal(runs.length, 1)
})

/**
 * Issue 10: health is cluster-wide. Two replicas on one store, only one pinged: both report
 * healthy with the same last tick; with the store down both answer 503 "store unreachable";
 * once it is back, both are healthy again.
 */
async function clusterHealth (t: Test, open: () => Store, outage?: { cut: () => Promise<void>, restore: () => Promise<void> }): Promise<void> {
  const [a, b] = [await appOn(open(), []), await appOn(open(), [])]
  t.teardown(async () => { await a.close(); await b.close() })
  const health = async (app: FastifyInstance) => {
    const response = await app.inject({ method: 'GET', url: '/_schedule/health' })
    return { code: response.statusCode, ...response.json() as { status: string, lastTick: string | null, reason: string } }
  }
  clock.advance(60_000)
  t.equal((await trigger(a)).statusCode, 200, 'replica A is pinged')
  // A records the cluster's tick in the background; B reads it through its short cache.
  const seen = await eventually(async () => {
    clock.advance(5_000)
    const answer = await health(b)
    if (answer.code !== 200) throw new Error(`B: ${answer.status}`)
    return answer
  }, 10_000)
  t.equal(seen.status, 'ok', 'replica B, never pinged, is healthy')
  t.equal(seen.lastTick, (await health(a)).lastTick, 'both report the same last tick')
  const listing = await b.inject({ method: 'GET', url: '/_schedule', headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(listing.json().lastTick, seen.lastTick, "B's listing shows the cluster's last tick")
  if (outage === undefined) return
  await outage.cut()
  clock.advance(5_000)
  for (const [name, app] of [['A', a], ['B', b]] as const) {
    const down = await health(app)
    t.equal(down.code, 503, `${name}: 503 while the store is down`)
    t.equal(down.status, 'store unreachable')
    t.notMatch(JSON.stringify(down), /every-minute/, 'names no task')
  }
  await outage.restore()
  await eventually(async () => {
    clock.advance(5_000)
    if ((await trigger(a)).statusCode !== 200) throw new Error('not yet')
    if ((await health(b)).code !== 200) throw new Error('B not yet')
  }, 15_000)
  t.pass('both healthy again once the store is back')
}

t.test('cluster health on one SQLite file', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-scheduler-cluster-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  await clusterHealth(t, () => sqliteStore({ path: join(dir, 'shared.sqlite') }))
})

t.test('cluster health on one Redis', canStartRedis, async t => {
  const port = await freePort()
  let server = await startRedisServer(port)
  t.teardown(() => stopRedisServer(server))
  await clusterHealth(t, () => redisStore({ url: `redis://127.0.0.1:${port}`, prefix: 'cluster-health:' }), {
    cut: () => stopRedisServer(server),
    restore: async () => { server = await startRedisServer(port) }
  })
})

t.test('cluster health on one PostgreSQL', async t => {
  const postgres = await postgresService(t)
  if (postgres === undefined) return
  const proxy = await postgresProxy(await freePort())
  t.teardown(() => proxy.cut().catch(() => {}))
  await clusterHealth(t, () => postgresStore({ connectionString: proxy.connectionString, schema: postgres.schema, tablePrefix: 'cluster_' }), proxy)
})
