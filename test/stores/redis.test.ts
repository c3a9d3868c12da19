import { spawnSync } from 'node:child_process'
import { Redis } from 'ioredis'
import t from 'tap'
import { redisStore } from '../../plugin/stores/redis.js'
import {
  deleteRedisKeys, freePort, needs, probeRedis, redisService, redisUrl, uniqueRedisPrefix
} from '../helpers/services.js'
import { eventually, startRedisServer, stopRedisServer } from '../helpers/outage.js'
import { T0, claimRace, expectEveryCallUnavailable, run, storeConformance } from './conformance.js'

const skip = needs(await probeRedis())
const canStartRedis = needs(spawnSync('redis-server', ['--version']).error === undefined
  ? undefined
  : 'redis-server is not on PATH; the outage test starts and kills its own (install redis-server)')

t.test('redis store', skip, async (t) => {
  const admin = new Redis(redisUrl())
  const prefixes: string[] = []
  t.teardown(async () => {
    for (const prefix of prefixes) await deleteRedisKeys(admin, prefix)
    await admin.quit()
  })
  storeConformance(t, 'redis', async () => {
    const prefix = uniqueRedisPrefix()
    prefixes.push(prefix)
    return redisStore({ url: redisUrl(), prefix })
  })
})

t.test('options are checked when the store is created', async (t) => {
  t.throws(() => redisStore({}), { code: 'FST_SCHEDULER_INVALID_OPTION' }, 'neither client nor url')
  t.throws(() => redisStore({ url: 'redis://127.0.0.1:6379', client: new Redis({ lazyConnect: true }) }),
    { code: 'FST_SCHEDULER_INVALID_OPTION' }, 'both client and url')
  const store = redisStore({ url: 'redis://127.0.0.1:6379' })
  t.equal(store.kind, 'redis')
  t.equal(store.durable, true)
  await store.close()
})

t.test('two stores (two connections) on one prefix: one winner per occurrence and per lease', skip, async (t) => {
  const redis = await redisService(t)
  if (redis === undefined) return
  const stores = [redisStore(redis), redisStore(redis), redisStore(redis)]
  for (const store of stores) {
    await store.init()
    t.teardown(() => store.close())
  }
  await stores[0]!.ensureTasks(['report'], new Date(T0))
  t.equal(await claimRace(stores, 'report', new Date(T0), 99), 1)
  const leases = await Promise.all(stores.map((store, i) => store.acquireLease('task:report', `run-${i}`, 60_000, T0)))
  t.equal(leases.filter((l) => l.acquired).length, 1)
})

t.test("a client the user passes in is used, with its keyPrefix, and never closed", skip, async (t) => {
  const redis = await redisService(t)
  if (redis === undefined) return
  const client = new Redis(redis.url, { keyPrefix: redis.prefix })
  t.teardown(() => client.quit())
  const store = redisStore({ client, prefix: 'app:' })
  await store.init()
  await store.ensureTasks(['report'], new Date(T0))
  t.equal(await store.claimOccurrence('report', new Date(T0)), true)
  t.ok(await client.exists('app:last'), 'keys live under the client keyPrefix, then the store prefix')
  await store.recordRun(run('r1', 'report', 0), 10)
  t.same((await store.listRuns({ task: ['report'] })).runs, [run('r1', 'report', 0)], 'scripts reach run hashes through the keyPrefix')
  t.same((await store.lastRuns(['report'])).get('report'), run('r1', 'report', 0))
  await store.close()
  await store.close()
  t.equal(client.status, 'ready', 'still connected after the store closed')
  t.equal(await client.ping(), 'PONG')
})

/** What every call says while Redis is down: where, why, and that it keeps trying. */
const UNREACHABLE = /: Redis at localhost:\d+ is not reachable \([^()]+\); reconnecting in the background$/

t.test('outage: calls reject quickly with the coded error, and the same store recovers', canStartRedis, async (t) => {
  const port = await freePort()
  let server = await startRedisServer(port)
  t.teardown(() => stopRedisServer(server))
  const store = redisStore({ url: `redis://localhost:${port}`, prefix: 'outage:' })
  await store.init()
  t.teardown(() => store.close())
  await store.ensureTasks(['report'], new Date(T0))
  t.equal(await store.claimOccurrence('report', new Date(T0)), true)

  await stopRedisServer(server)
  await expectEveryCallUnavailable(t, store, UNREACHABLE)

  server = await startRedisServer(port)
  const recoveredIn = performance.now()
  await eventually(() => store.ensureTasks(['report'], new Date(T0)), 10_000)
  t.comment(`recovered ${Math.round(performance.now() - recoveredIn)} ms after the server came back`)
  t.equal(await store.claimOccurrence('report', new Date(T0 + 60_000)), true, 'claims work again, no new store needed')
})

t.test('nothing listening at boot: init and calls reject with the coded error; close still works', async (t) => {
  const port = await freePort()
  const store = redisStore({ url: `redis://localhost:${port}` })
  const started = performance.now()
  await t.rejects(store.init(), { code: 'FST_SCHEDULER_STORE_UNAVAILABLE', message: /ECONNREFUSED/ })
  t.ok(performance.now() - started < 5000, 'init fails fast')
  await expectEveryCallUnavailable(t, store, UNREACHABLE)
  await store.close()
  await t.rejects(store.listRuns({}), { code: 'FST_SCHEDULER_STORE_UNAVAILABLE', message: /the Redis store is closed$/ })
})
