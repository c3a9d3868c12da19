/**
 * Time (docs/ARCHITECTURE.md#time): the store's clock is the clock of record, a store that
 * goes back in time is rebased, and health is fed only by ticks that evaluate the whole
 * schedule. The stores here are memory stores given a clock of their own (`time()`), so each
 * test moves the store's clock and each replica's clock by hand; the same scenarios against
 * the real Redis and PostgreSQL clocks are in test/plugin/time-network.test.ts.
 */
import t from 'tap'
import { memoryStore } from '../../plugin/stores/memory.js'
import type { Store } from '../../plugin/stores/store.js'
import { defineTask } from '../../tasks/task.js'
import type { TaskContext } from '../../tasks/types.js'
import { at, buildApp, testClock, type TestClock } from '../helpers/app.js'
import { eventually } from '../helpers/outage.js'
import { interceptStore } from '../helpers/faulty-store.js'
import { reportLedger } from '../helpers/ledger.js'
import { AUTH, buildRoutesApp, START } from '../routes/helpers.js'

const MINUTE = 60_000
const HOUR = 60 * MINUTE

/** A memory store with a clock of its own, as a network store has. */
function storeWithClock (storeClock: () => number, inner: Store = memoryStore()): Store {
  return Object.assign(interceptStore(() => inner, (_method, call, args) => call(...args), { kind: 'clocked', durable: true }), {
    time: async () => storeClock()
  })
}

/** A replica: an app on `store` whose clock is `offsetMs` away from the store's. */
async function replica (store: Store, storeClock: TestClock, offsetMs: number, ledger: string[], extra: Record<string, unknown> = {}) {
  return await buildApp({
    store,
    clock: () => storeClock() + offsetMs,
    tasks: [
      defineTask({ name: 'minutely', runEveryMinute: true, handle (ctx) { ledger.push(`minutely ${ctx.scheduledFor.toISOString()}`) } }),
      defineTask({ name: 'daily', runAt: '17:00', handle (ctx) { ledger.push(`daily ${ctx.scheduledFor.toISOString()} at ${new Date(storeClock()).toISOString()}`) } })
    ],
    ...extra
  })
}

t.test('a replica whose clock runs an hour ahead claims nothing: 503 naming the skew, health 503, an error logged', async t => {
  const storeClock = testClock(at('2026-05-12 16:50'))
  const store = storeWithClock(storeClock)
  const ledger: string[] = []
  const fast = await replica(store, storeClock, HOUR, ledger)
  const healthy = await replica(store, storeClock, 0, ledger)
  t.teardown(async () => { await fast.close(); await healthy.close() })

  for (let minute = 0; minute < 18; minute++) {
    storeClock.set(at('2026-05-12 16:50').getTime() + minute * MINUTE)
    await t.rejects(fast.scheduler.tick(), { code: 'FST_SCHEDULER_STORE_UNAVAILABLE', message: /clock skew \+3600 s against the store \(maxClockSkew 30 s\)/ },
      `minute ${minute}: the fast replica refuses`)
    await (await healthy.scheduler.tick()).settled
  }
  const minutely = ledger.filter(line => line.startsWith('minutely'))
  const owed = Array.from({ length: 18 }, (_, minute) => `minutely ${new Date(at('2026-05-12 16:50').getTime() + minute * MINUTE).toISOString()}`)
  t.match(reportLedger(t, 'one replica\'s clock an hour ahead (memory store with its own clock)', owed, minutely), { lost: 0, duplicated: 0 },
    'the healthy replica ran each of the 18 minutely occurrences once')
  t.same(ledger.filter(line => line.startsWith('daily')), ['daily 2026-05-12T17:00:00.000Z at 2026-05-12T17:00:00.000Z'], 'the daily task ran at 17:00 store time, not early')
  t.match(await fast.scheduler.health(), { healthy: false, status: 'clock skew', reason: /clock skew \+3600 s/ }, 'the fast replica\'s health says why')
  t.match(await healthy.scheduler.health(), { healthy: true }, 'the healthy one is ok')

  // Only the fast replica is pinged now: its ticks claim nothing, so they do not count as the cluster's.
  storeClock.advance(10 * MINUTE)
  for (let minute = 0; minute < 4; minute++) {
    storeClock.advance(MINUTE)
    await t.rejects(fast.scheduler.tick(), { message: /clock skew/ })
  }
  t.match((await store.heartbeat()).lastTick, at('2026-05-12 17:07'), 'the cluster\'s last tick is still the healthy replica\'s')
})

t.test('a clock behind is refused too, and a corrected clock is accepted at the next heartbeat', async t => {
  const storeClock = testClock(at('2026-05-12 17:00'))
  let offset = -2 * MINUTE
  const ledger: string[] = []
  const app = await buildApp({
    store: storeWithClock(storeClock),
    clock: () => storeClock() + offset,
    tasks: [defineTask({ name: 'minutely', runEveryMinute: true, handle (ctx) { ledger.push(ctx.scheduledFor.toISOString()) } })]
  })
  t.teardown(() => app.close())
  await t.rejects(app.scheduler.tick(), { message: /clock skew -120 s against the store/ })
  offset = 10_000 // NTP fixed it: within maxClockSkew
  storeClock.advance(MINUTE)
  await eventually(async () => await (await app.scheduler.tick()).settled, 2000)
  t.same(ledger, ['2026-05-12T17:01:00.000Z'], 'runs again once the clock is within maxClockSkew')
  t.match(await app.scheduler.health(), { healthy: true })
})

t.test('a fast clock within maxClockSkew never reaps a live lease: lease expiry is judged in store time', async t => {
  for (const maxClockSkew of ['30 seconds', false] as const) {
    const storeClock = testClock(at('2026-05-12 17:00'))
    const store = storeWithClock(storeClock)
    let release!: () => void
    const runner = await buildApp({
      store,
      clock: storeClock,
      maxClockSkew,
      tasks: [defineTask({ name: 'long', runAt: '17:00', async handle () { await new Promise<void>(resolve => { release = resolve }) } })]
    })
    // Another replica, 20 s fast, that reaps expired leases whenever it starts something.
    const fast = await buildApp({
      store,
      clock: () => storeClock() + 20_000,
      maxClockSkew,
      tasks: [
        defineTask({ name: 'long', runAt: '17:00', handle () {} }),
        defineTask({ name: 'other', runEveryMinute: true, handle () {} })
      ]
    })
    const first = await runner.scheduler.tick()
    t.equal(first.runs[0]?.status, 'started')
    storeClock.set(at('2026-05-12 17:00').getTime() + 50_000) // the lease (60 s) has 10 s left in store time
    await (await fast.scheduler.tick()).settled
    const [record] = (await store.listRuns({ task: ['long'] })).runs
    if (maxClockSkew === false) {
      t.equal(record?.status, 'abandoned', 'without the store\'s clock, the fast replica reaps a live lease')
    } else {
      t.equal(record?.status, 'running', 'in store time the lease is live: not reaped')
    }
    release()
    await first.settled
    await runner.close()
    await fast.close()
  }
})

/**
 * A primary and a replica that follows it until it lags; `failover()` promotes the replica,
 * which has only what it had received.
 */
function replicatedStore () {
  const primary = memoryStore()
  const replica = memoryStore()
  let lagging = false
  let current = primary
  const store = interceptStore(() => current, async (method, call, args) => {
    const result = await call(...args)
    if (current === primary && !lagging && method !== 'close' && method !== 'init') {
      await (replica[method as keyof Store] as (...a: unknown[]) => Promise<unknown>).apply(replica, args)
    }
    return result
  }, { kind: 'replicated', durable: true })
  return {
    store,
    lag () { lagging = true },
    failover () { current = replica }
  }
}

t.test('a failover to a lagging replica: fencing tokens are never handed out twice, no occurrence runs twice', async t => {
  const replicated = replicatedStore()
  const clock = testClock(at('2026-05-12 17:00'))
  const ledger: Array<{ occurrence: string, token: number }> = []
  const app = await buildApp({
    store: replicated.store,
    clock,
    tasks: [defineTask({ name: 'minutely', runEveryMinute: true, handle (ctx: TaskContext) { ledger.push({ occurrence: ctx.scheduledFor.toISOString(), token: ctx.leaseToken }) } })]
  })
  t.teardown(() => app.close())
  const tickAt = async (minute: number) => {
    clock.set(at('2026-05-12 17:00').getTime() + minute * MINUTE)
    await (await app.scheduler.tick()).settled
  }
  for (let minute = 0; minute < 3; minute++) await tickAt(minute)
  replicated.lag()
  for (let minute = 3; minute < 5; minute++) await tickAt(minute)
  replicated.failover() // the replica never saw minutes 3 and 4, nor tokens 4 and 5
  await tickAt(5)
  t.match(await app.scheduler.health(), { healthy: false, status: 'store went back in time', reason: /went back in time/ }, 'health says so')
  await tickAt(6)
  await tickAt(7)
  t.match(await app.scheduler.health(), { healthy: true, status: 'ok' }, 'until the next clean tick')

  const occurrences = ledger.map(entry => entry.occurrence)
  const owed = [0, 1, 2, 3, 4, 6, 7].map(minute => new Date(at('2026-05-12 17:00').getTime() + minute * MINUTE).toISOString())
  t.match(reportLedger(t, 'failover to a lagging replica (replicated memory store)', owed, occurrences.filter(o => o !== new Date(at('2026-05-12 17:05')).toISOString())),
    { lost: 0, duplicated: 0 }, 'every owed minute ran once')
  t.ok(occurrences.filter(o => o === at('2026-05-12 17:05').toISOString()).length <= 1, 'the minute the failover was noticed ran at most once')
  const tokens = ledger.map(entry => entry.token)
  t.equal(new Set(tokens).size, tokens.length, `every run got its own lease token (${tokens.join(', ')})`)
  t.ok(tokens.every((token, i) => i === 0 || token > tokens[i - 1]!), 'and they only grow')
  const minute5 = (await replicated.store.listRuns({ task: ['minutely'] })).runs.find(run => run.scheduledFor.getTime() === at('2026-05-12 17:05').getTime())
  t.ok(minute5 === undefined || minute5.status === 'succeeded' || (minute5.status === 'skipped' && /went back in time/.test(minute5.error ?? '')),
    'the minute the failover was noticed either ran once with a fresh token, or is recorded skipped with the reason')
})

t.test('health is fed only by ticks that evaluate the whole schedule', async t => {
  const { app, clock } = await buildRoutesApp({ plugin: { expectTickEvery: '3 minutes' } })
  t.teardown(() => app.close())
  const post = (url: string, body?: object) => app.inject({ method: 'POST', url, headers: AUTH, ...(body === undefined ? {} : { payload: body }) })
  const health = async () => (await app.inject({ method: 'GET', url: '/_schedule/health' })).statusCode

  t.equal((await post('/_schedule/run')).statusCode, 200, 'a whole tick')
  t.equal(await health(), 200)
  clock.set(START + 10 * MINUTE)
  t.equal((await post('/_schedule/run', { task: 'a' })).statusCode, 200, 'a scoped trigger runs its task')
  t.equal((await post('/_schedule/run', { force: true })).statusCode, 200, 'a forced trigger runs everything')
  t.equal((await post('/_schedule/run', { task: 'nope' })).statusCode, 404, 'an unknown task')
  t.equal((await app.inject({ method: 'POST', url: '/_schedule/run' })).statusCode, 401, 'a refused trigger')
  await app.scheduler.run('b', { force: true })
  t.equal(await health(), 503, 'none of them counts as the pinger\'s tick')
  t.equal((await post('/_schedule/run')).statusCode, 200)
  t.equal(await health(), 200, 'the next whole tick does')
})
