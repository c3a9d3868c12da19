import { Redis } from 'ioredis'
import { setTimeout as delay } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { redisStore, REDIS_NOT_PERSISTENT } from '../../plugin/stores/redis/index.js'
import type { RunRecord, StartRunRequest } from '../../plugin/stores/store.js'
import {
  deleteRedisKeys, freePort, needs, probeRedis, redisService, redisUrl, uniqueRedisPrefix
} from '../helpers/services.js'
import { eventually } from '../helpers/outage.js'
import { T0, claimRace, expectEveryCallUnavailable, run, storeConformance } from './conformance.js'
import { ownRedis, whyNoRedisServer } from './redis-server.js'

const MINUTE = 60_000
const DAY = 24 * 60 * MINUTE
const skip = needs(await probeRedis())
const canStartRedis = needs(whyNoRedisServer())
const NO_PERSISTENCE = ['--save', '', '--appendonly', 'no']

/** A start of `task`'s occurrence `at` (ms) as the scheduler makes it: claim + lease named after the task. */
function scheduledStart (id: string, task: string, at: number, nowMs = at): StartRunRequest {
  const running: RunRecord = { ...run(id, task, 0, 'running'), scheduledFor: new Date(at), startedAt: new Date(nowMs) }
  return { run: running, claim: 'occurrence', lease: { key: task, ttlMs: MINUTE, nowMs }, historyLimit: 100 }
}

/** The record `finishRun` writes when the run of `request` succeeds. */
function succeeded (request: StartRunRequest): RunRecord {
  return { ...request.run, status: 'succeeded', finishedAt: new Date(request.run.startedAt.getTime() + 10), durationMs: 10 }
}

/** A warn-only logger that remembers what it was told. */
function recordingLog (): { log: { warn: (obj: object, msg: string) => void }, warnings: Array<{ obj: object, msg: string }> } {
  const warnings: Array<{ obj: object, msg: string }> = []
  return { log: { warn: (obj, msg) => { warnings.push({ obj, msg }) } }, warnings }
}

/** The unhandled rejections of this process while `t` runs (none is the goal). */
function unhandledRejections (t: Test): unknown[] {
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => { process.off('unhandledRejection', onUnhandled) })
  return unhandled
}

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
  const lazy = new Redis({ lazyConnect: true })
  t.throws(() => redisStore({ url: 'redis://127.0.0.1:6379', client: lazy }),
    { code: 'FST_SCHEDULER_INVALID_OPTION' }, 'both client and url')
  t.throws(() => redisStore({ client: lazy, timeout: 1000 }), { code: 'FST_SCHEDULER_INVALID_OPTION', message: /commandTimeout on your own client/ },
    'timeout configures our own client only')
  for (const timeout of [0, -1, 1.5, 2 ** 31, Number.NaN, '5 parsecs', '0 seconds']) {
    t.throws(() => redisStore({ url: 'redis://127.0.0.1:6379', timeout }), { code: 'FST_SCHEDULER_INVALID_OPTION', message: /^redisStore: timeout\b/ }, `timeout ${timeout}`)
  }
  t.doesNotThrow(() => redisStore({ url: 'redis://127.0.0.1:6379', timeout: '2.5 seconds' }), 'a duration string')
  const store = redisStore({ url: 'redis://127.0.0.1:6379', timeout: 2000 })
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
  const forced = await Promise.all(stores.map((store, i) => store.startRun({
    run: run(`forced-${i}`, 'report', 0, 'running', { forced: true }),
    claim: 'none',
    lease: { key: 'report:forced', ttlMs: MINUTE, nowMs: T0 },
    historyLimit: 100
  })))
  t.equal(forced.filter((r) => r.outcome === 'started').length, 1, 'one forced run holds the lease')
  const tokens = await Promise.all(stores.map((store, i) => store.startRun({
    run: run(`t-${i}`, 'report', 0, 'running', { forced: true }), claim: 'none', lease: { key: `own-${i}`, ttlMs: MINUTE, nowMs: T0 }, historyLimit: 100
  })))
  const values = tokens.map((r) => r.outcome === 'started' ? r.leaseToken : 0)
  t.equal(new Set(values).size, 3, 'fencing tokens are unique across connections')
  t.ok(values.every((v) => v > 1), 'and come from one counter')
})

t.test('a client the user passes in is used, with its keyPrefix, and never closed', skip, async (t) => {
  const redis = await redisService(t)
  if (redis === undefined) return
  const client = new Redis(redis.url, { keyPrefix: redis.prefix })
  t.teardown(() => client.quit())
  const listeners = client.listenerCount('error')
  const store = redisStore({ client, prefix: 'app:' })
  await store.init()
  t.equal(client.listenerCount('error'), listeners, 'no listener added to the user\'s client')
  await store.ensureTasks(['report'], new Date(T0))
  const start = scheduledStart('r1', 'report', T0)
  t.equal((await store.startRun(start)).outcome, 'started')
  t.ok(await client.exists('app:last'), 'keys live under the client keyPrefix, then the store prefix')
  await store.finishRun(succeeded(start), { leaseKey: 'report', historyLimit: 10 })
  t.same((await store.listRuns({ task: ['report'] })).runs, [succeeded(start)], 'scripts reach run hashes through the keyPrefix')
  t.same((await store.recentRuns(['report'], 5)).get('report'), [succeeded(start)])
  await store.close()
  await store.close()
  t.equal(client.status, 'ready', 'still connected after the store closed')
  t.equal(await client.ping(), 'PONG')
})

t.test('the same start sent twice (a reply lost, the command resent) answers started both times', skip, async (t) => {
  const redis = await redisService(t)
  if (redis === undefined) return
  const store = redisStore(redis)
  await store.init()
  t.teardown(() => store.close())
  await store.ensureTasks(['report'], new Date(T0))
  const request = scheduledStart('once', 'report', T0)
  const first = await store.startRun(request)
  t.match(first, { outcome: 'started' })
  t.same(await store.startRun(request), first, 'same outcome, same fencing token')
  t.same(await store.startRun({ ...request, run: { ...request.run, id: 'other' } }), { outcome: 'claimed' }, 'another run id is refused')
  t.same((await store.listRuns({})).runs, [request.run], 'one record, no extra field')
  await store.finishRun(succeeded(request), { leaseKey: 'report', historyLimit: 10 })
  t.same(await store.startRun(request), { outcome: 'claimed' }, 'once finished, no longer a start to replay')
})

t.test('v1 keys are read as they are: run hashes without attempt/forced are attempt 1, not forced', skip, async (t) => {
  const redis = await redisService(t)
  if (redis === undefined) return
  const raw = new Redis(redis.url)
  t.teardown(() => raw.quit())
  const p = redis.prefix
  // What a v1 store left: task state, a finished and a running run, no schema key.
  await raw.hset(`${p}first`, 'report', String(T0))
  await raw.hset(`${p}last`, 'report', String(T0 + MINUTE))
  await raw.hset(`${p}run:old`, 'id', 'old', 'task', 'report', 'scheduledFor', String(T0), 'trigger', 'cron',
    'startedAt', String(T0), 'finishedAt', String(T0 + 5), 'durationMs', '5', 'status', 'succeeded')
  await raw.hset(`${p}run:live`, 'id', 'live', 'task', 'report', 'scheduledFor', String(T0 + MINUTE), 'trigger', 'cron',
    'startedAt', String(T0 + MINUTE), 'status', 'running')
  await raw.hset(`${p}lease:owner`, 'report', 'live')
  await raw.zadd(`${p}lease:expiry`, T0 + 2 * MINUTE, 'report')
  for (const [id, at] of [['old', T0], ['live', T0 + MINUTE]] as const) {
    await raw.zadd(`${p}runs`, at, id)
    await raw.zadd(`${p}runs:task:report`, at, id)
  }

  const store = redisStore(redis)
  await store.init()
  t.teardown(() => store.close())
  t.equal(await raw.get(`${p}schema`), '3', 'init records the layout version')
  const old = (await store.listRuns({})).runs.find((r) => r.id === 'old')
  t.same(old, { id: 'old', task: 'report', scheduledFor: new Date(T0), trigger: 'cron', startedAt: new Date(T0), finishedAt: new Date(T0 + 5), durationMs: 5, status: 'succeeded', attempt: 1, forced: false })
  t.same((await store.ensureTasks(['report'], new Date(0))).get('report'), { firstSeen: new Date(T0), lastOccurrence: new Date(T0 + MINUTE) })
  t.equal((await store.startRun(scheduledStart('late', 'report', T0 + MINUTE))).outcome, 'claimed', 'v1 claims hold')
  const next = await store.startRun(scheduledStart('next', 'report', T0 + 3 * MINUTE))
  t.match(next, { outcome: 'started', abandoned: 'live' }, 'a v1 lease is taken over and its run abandoned')
  t.match((await store.listRuns({ task: ['report'] })).runs.find((r) => r.id === 'live'), { status: 'abandoned', attempt: 1, forced: false })

  await raw.set(`${p}schema`, '4')
  const newer = redisStore(redis)
  t.teardown(() => newer.close())
  await t.rejects(newer.init(), { code: 'FST_SCHEDULER_STORE_UNAVAILABLE', message: /newer fastify-scheduler \(layout v4\)/ }, 'a newer layout is refused')
})

/** What every call says while Redis is down: where, why, and that it keeps trying. */
const UNREACHABLE = /: Redis at (localhost|127\.0\.0\.1):\d+ is not reachable \([^()]+\); reconnecting in the background$/

t.test('boot warns when the server keeps nothing on disk, and only then', canStartRedis, async (t) => {
  const cases: Array<[string, string[], boolean]> = [
    ['neither AOF nor RDB', NO_PERSISTENCE, true],
    ['RDB snapshots', ['--save', '3600 1', '--appendonly', 'no'], false],
    ['AOF', ['--save', '', '--appendonly', 'yes'], false],
    ['CONFIG renamed away (managed Redis)', [...NO_PERSISTENCE, '--rename-command', 'CONFIG', ''], false]
  ]
  for (const [label, args, warns] of cases) {
    const server = await ownRedis(t, args)
    for (const made of ['url', 'client'] as const) {
      const client = made === 'client' ? new Redis(server.url) : undefined
      const store = redisStore(client === undefined ? { url: server.url } : { client })
      const { log, warnings } = recordingLog()
      await store.init({ log })
      await store.init({ log })
      await store.close()
      await client?.quit()
      if (warns) {
        t.equal(warnings.length, 1, `${label}, ${made}: one warning, however often init runs`)
        t.same(warnings[0], { obj: { store: 'redis', appendonly: 'no', save: '' }, msg: REDIS_NOT_PERSISTENT })
      } else {
        t.same(warnings, [], `${label}, ${made}: no warning`)
      }
    }
  }
  t.match(REDIS_NOT_PERSISTENT, /restart .*first seen/)
})

t.test('outage: calls reject quickly with the coded error, and the same store recovers', canStartRedis, async (t) => {
  const server = await ownRedis(t, NO_PERSISTENCE)
  const store = redisStore({ url: `redis://localhost:${server.port}`, prefix: 'outage:' })
  await store.init()
  t.teardown(() => store.close())
  await store.ensureTasks(['report'], new Date(T0))
  t.equal((await store.startRun(scheduledStart('a', 'report', T0))).outcome, 'started')

  await server.kill()
  await expectEveryCallUnavailable(t, store, UNREACHABLE)

  await server.restart()
  const recoveredIn = performance.now()
  await eventually(() => store.ensureTasks(['report'], new Date(T0)), 10_000)
  t.comment(`recovered ${Math.round(performance.now() - recoveredIn)} ms after the server came back`)
  t.equal((await store.startRun(scheduledStart('b', 'report', T0 + MINUTE))).outcome, 'started', 'starts work again, no new store needed')
})

t.test('state loss: a server restarted empty makes old occurrences stale, never re-run', canStartRedis, async (t) => {
  const server = await ownRedis(t, NO_PERSISTENCE)
  const store = redisStore({ url: server.url, prefix: 'loss:' })
  await store.init()
  t.teardown(() => store.close())
  await store.ensureTasks(['daily'], new Date(T0))
  const yesterday = scheduledStart('yesterday', 'daily', T0 + DAY)
  t.equal((await store.startRun(yesterday)).outcome, 'started')
  await store.finishRun(succeeded(yesterday), { leaseKey: 'daily', historyLimit: 10 })

  await server.kill()
  await expectEveryCallUnavailable(t, store, UNREACHABLE)
  await server.restart()
  const back = performance.now()
  await eventually(() => store.heartbeat(), 10_000)
  t.comment(`the store's client reconnected ${Math.round(performance.now() - back)} ms after the restart`)

  t.same(await store.startRun({ ...yesterday, run: { ...yesterday.run, id: 'again' } }), { outcome: 'stale' },
    'a replica still holding yesterday\'s state is told it is stale')
  t.same(await store.listRuns({}), { runs: [], total: 0 }, 'nothing started')
  const now = T0 + DAY + 12 * 60 * MINUTE
  t.same((await store.ensureTasks(['daily'], new Date(now))).get('daily'), { firstSeen: new Date(now) }, 'the state is re-created, first seen now')
  t.same(await store.startRun({ ...yesterday, run: { ...yesterday.run, id: 'again-2' } }), { outcome: 'stale' }, 'still before firstSeen')
  const today = scheduledStart('today', 'daily', T0 + 2 * DAY)
  t.equal((await store.startRun(today)).outcome, 'started', 'the next due occurrence starts')
  t.same(await store.startRun({ ...today, run: { ...today.run, id: 'today-2' } }), { outcome: 'claimed' }, 'once')
  t.same((await store.listRuns({})).runs.map((r) => r.id), ['today'])
})

t.test('random connection kills: every occurrence has at most one record, and none is lost', canStartRedis, async (t) => {
  const server = await ownRedis(t, NO_PERSISTENCE)
  const unhandled = unhandledRejections(t)
  const store = redisStore({ url: server.url, prefix: 'kills:' })
  await store.init()
  t.teardown(() => store.close())
  const killer = new Redis(server.url)
  t.teardown(() => killer.quit())

  const N = 300
  const tasks = Array.from({ length: N }, (_, i) => `k-${i}`)
  await store.ensureTasks(tasks, new Date(T0))
  const starts = tasks.map((task) => scheduledStart(`run-${task}`, task, T0))
  const seen = { started: 0, startFailed: 0, otherOutcome: 0, finished: 0, finishFailed: 0, kills: 0, killed: 0 }
  const startFailed = new Set<string>()
  let done = false
  const killing = (async () => {
    // eslint-disable-next-line no-unmodified-loop-condition -- set true by the test once the pairs are done
    while (!done) {
      // Strike at a random moment once the store is connected again (a second normal client).
      // eslint-disable-next-line no-unmodified-loop-condition -- see above
      while (!done && (await killer.call('CLIENT', 'LIST', 'TYPE', 'normal') as string).trim().split('\n').length < 2) await delay(5)
      await delay(Math.random() * 150)
      // SKIPME yes (the default): every normal client but the killer itself.
      const n = await killer.call('CLIENT', 'KILL', 'TYPE', 'normal') as number
      seen.kills += 1
      seen.killed += n
    }
  })()
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < N) {
      const request = starts[next++]!
      await delay(Math.random() * 60)
      const result = await store.startRun(request).catch((err: { code?: string }) => {
        if (err.code !== 'FST_SCHEDULER_STORE_UNAVAILABLE') throw err
        seen.startFailed += 1
        startFailed.add(request.run.id)
        return undefined
      })
      if (result === undefined) {
        await delay(50) // as a tick would come again later
        continue
      }
      if (result.outcome !== 'started') {
        seen.otherOutcome += 1
        continue
      }
      seen.started += 1
      await delay(Math.random() * 10)
      await store.finishRun(succeeded(request), { leaseKey: request.run.task, historyLimit: 10 }).then(
        () => { seen.finished += 1 },
        (err: { code?: string }) => {
          if (err.code !== 'FST_SCHEDULER_STORE_UNAVAILABLE') throw err
          seen.finishFailed += 1
        })
    }
  }
  try {
    await Promise.all(Array.from({ length: 4 }, worker))
  } finally {
    done = true
    await killing
  }
  await eventually(() => store.heartbeat(), 10_000)

  const after = { nothing: 0, nothingThenStarted: 0, running: 0, runningThenFinished: 0, succeeded: 0, twoOrMore: 0, ranBehindAFailedStart: 0, replayStarted: 0 }
  for (const request of starts) {
    const { runs } = await store.listRuns({ task: [request.run.task] })
    if (runs.length > 1) after.twoOrMore += 1
    if (runs.length > 0 && startFailed.has(request.run.id)) after.ranBehindAFailedStart += 1
    if (runs.length === 0) {
      after.nothing += 1
      if ((await store.startRun(request)).outcome === 'started') after.nothingThenStarted += 1
    } else if (runs[0]!.status === 'running') {
      after.running += 1
      if (startFailed.has(request.run.id) && (await store.startRun(request)).outcome === 'started') after.replayStarted += 1
      await store.finishRun(succeeded(request), { leaseKey: request.run.task, historyLimit: 10 })
      const [finished] = (await store.listRuns({ task: [request.run.task] })).runs
      if (finished?.status === 'succeeded') after.runningThenFinished += 1
    } else if (runs[0]!.status === 'succeeded') {
      after.succeeded += 1
    }
  }
  t.comment(`${seen.kills} CLIENT KILLs (${seen.killed} connections cut); calls: ${JSON.stringify(seen)}`)
  t.comment(`afterwards: ${JSON.stringify(after)}`)
  t.ok(seen.killed > 0, 'connections were cut')
  t.ok(seen.startFailed + seen.finishFailed > 0, 'some calls met a cut connection')
  t.equal(seen.otherOutcome, 0, 'no start was answered "claimed": nothing was resent behind the caller\'s back')
  t.equal(after.twoOrMore, 0, 'never two records for one occurrence')
  t.equal(after.nothingThenStarted, after.nothing, 'an occurrence without a record is still owed: it starts now')
  t.equal(after.runningThenFinished, after.running, 'a running record left behind is finishable')
  t.equal(after.replayStarted, after.ranBehindAFailedStart, 'a start that ran behind a failed call answers started when sent again')
  t.equal(after.nothing + after.running + after.succeeded, N, 'every occurrence accounted for')
  t.ok(after.succeeded >= seen.finished, 'every acknowledged finish is stored')
  t.same(unhandled, [], 'no unhandled rejection')
})

t.test('a frozen server (SIGSTOP): each call fails with the coded error within the timeout', canStartRedis, async (t) => {
  const server = await ownRedis(t, NO_PERSISTENCE)
  const store = redisStore({ url: server.url, prefix: 'frozen:', timeout: 500 })
  await store.init()
  t.teardown(() => store.close())
  await store.ensureTasks(['report'], new Date(T0))
  server.freeze(true)
  t.teardown(() => server.freeze(false))
  const started = performance.now()
  await t.rejects(store.startRun(scheduledStart('a', 'report', T0)), { code: 'FST_SCHEDULER_STORE_UNAVAILABLE', message: /Command timed out/ })
  const took = performance.now() - started
  // Not before the timeout; the upper bound leaves room for a starved CPU (it only tells a timeout from a hang).
  t.ok(took >= 450 && took < 500 + 3000, `rejected after ${Math.round(took)} ms (timeout 500)`)
  server.freeze(false)
  // The timed-out script still ran once the server woke: the start is either recorded or still owed, never twice.
  await eventually(() => store.heartbeat(), 5000)
  const again = await store.startRun(scheduledStart('b', 'report', T0))
  t.ok(['started', 'claimed'].includes(again.outcome), `then: ${again.outcome}`)
  t.ok((await store.listRuns({})).total <= 1, 'one record at most')
})

t.test('a user client meeting connection kills mid-call: every call settles, nothing crashes', canStartRedis, async (t) => {
  const server = await ownRedis(t, NO_PERSISTENCE)
  const unhandled = unhandledRejections(t)
  // Plain ioredis defaults (offline queue, resend after reconnect), plus the 'error' listener an app has.
  const client = new Redis(server.url)
  client.on('error', () => {})
  t.teardown(() => client.quit())
  const killer = new Redis(server.url)
  t.teardown(() => killer.quit())
  const store = redisStore({ client, prefix: 'user-kills:' })
  await store.init()
  const tasks = Array.from({ length: 100 }, (_, i) => `u-${i}`)
  await store.ensureTasks(tasks, new Date(T0))
  const settled = { resolved: 0, coded: 0, other: 0 }
  const calls = tasks.map(async (task, i) => {
    await delay(i * 2)
    await store.startRun(scheduledStart(`run-${task}`, task, T0)).then(
      () => { settled.resolved += 1 },
      (err: { code?: string }) => { settled[err.code === 'FST_SCHEDULER_STORE_UNAVAILABLE' ? 'coded' : 'other'] += 1 })
  })
  let kills = 0
  for (let i = 0; i < 5; i++) {
    await delay(20 + Math.random() * 20)
    kills += await killer.call('CLIENT', 'KILL', 'TYPE', 'normal') as number
  }
  await Promise.all(calls)
  t.comment(`${kills} connections cut; calls: ${JSON.stringify(settled)}`)
  t.ok(kills > 0, 'connections were cut')
  t.equal(settled.resolved + settled.coded, tasks.length, 'each call resolved or failed with the coded error')
  const { runs } = await store.listRuns({ limit: 500 })
  t.equal(new Set(runs.map((r) => r.task)).size, runs.length, `${runs.length} records for ${tasks.length} occurrences: none twice`)
  t.same(unhandled, [], 'no unhandled rejection')
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
