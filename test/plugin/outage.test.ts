/**
 * Store outages through the whole plugin (SPEC §5): with Redis or PostgreSQL unreachable,
 * the trigger answers 503 with a clear message and nothing runs; when the store is back,
 * ticks work again without a restart. The app also boots while a network store is down.
 */
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyScheduler from '../../plugin/index.js'
import { postgresStore } from '../../plugin/stores/postgres.js'
import { redisStore } from '../../plugin/stores/redis.js'
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

/** Down: 503 naming the store problem and nothing run. Back: 200 and the task runs once. */
async function outageAndRecovery (t: Test, app: FastifyInstance, runs: string[], cut: () => Promise<void>, restore: () => Promise<void>): Promise<void> {
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
    async () => { server = await startRedisServer(port) })
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
