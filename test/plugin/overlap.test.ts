/**
 * Overlap policies (docs/OVERLAP.md): `skip`, `bufferOne`, `cancelOther`, `allow`, on the
 * memory store and on a real SQLite file, with time driven by `tick(now)` and an injected
 * clock. Two apps sharing one store stand for two replicas. The clock (leases) stays put
 * while ticks name the schedule's `now`, so a lease expires only where a test moves the clock.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyScheduler from '../../plugin.js'
import { RunAbortedError } from '../../plugin/runner.js'
import { BUFFERED_REASON } from '../../plugin/stores/history.js'
import { memoryStore } from '../../plugin/stores/memory.js'
import { sqliteStore } from '../../plugin/stores/sqlite/index.js'
import type { RunRecord, Store } from '../../plugin/stores/store.js'
import type { SchedulerOptions } from '../../plugin/types.js'
import { defineTask } from '../../tasks/task.js'
import type { TaskObject } from '../../tasks/types.js'
import { at, buildApp, testClock, type TestClock } from '../helpers/app.js'

/** A promise the test resolves by hand. */
function gate () {
  let open!: () => void
  const opened = new Promise<void>(resolve => { open = resolve })
  return { opened, open }
}

/** Resolves when `signal` aborts (with its reason). */
function aborted (signal: AbortSignal): Promise<unknown> {
  return new Promise(resolve => signal.addEventListener('abort', () => resolve(signal.reason), { once: true }))
}

interface Replica {
  app: FastifyInstance
  /** Every final record this replica wrote, in order (onRunEnd). */
  ended: RunRecord[]
  /** Resolves with the next record ended on this replica matching `pred`. */
  nextEnd: (pred: (run: RunRecord) => boolean) => Promise<RunRecord>
}

async function replica (t: Test, store: Store, clock: TestClock, tasks: TaskObject[], options: SchedulerOptions = {}): Promise<Replica> {
  const app = await buildApp({ store, clock, maxClockSkew: false, tasks, ...options })
  t.teardown(() => app.close())
  const ended: RunRecord[] = []
  const waiting: Array<{ pred: (run: RunRecord) => boolean, resolve: (run: RunRecord) => void }> = []
  app.scheduler.addHook('onRunEnd', run => {
    ended.push(run)
    for (const w of waiting.splice(0)) {
      if (w.pred(run)) w.resolve(run)
      else waiting.push(w)
    }
  })
  const nextEnd = (pred: (run: RunRecord) => boolean) => new Promise<RunRecord>(resolve => {
    const done = ended.find(pred)
    if (done !== undefined) resolve(done)
    else waiting.push({ pred, resolve })
  })
  return { app, ended, nextEnd }
}

const stores: Array<[string, (t: Test) => Store]> = [
  ['memory', () => memoryStore()],
  ['sqlite', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'fst-overlap-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    return sqliteStore({ path: join(dir, 'scheduler.sqlite') })
  }]
]

for (const [kind, makeStore] of stores) {
  t.test(`${kind}: bufferOne runs the overlapping occurrence once, as soon as the running run ends`, async t => {
    const store = makeStore(t)
    const clock = testClock(at('2026-05-11 10:00'))
    const first = gate()
    const ran: string[] = []
    const r = await replica(t, store, clock, [defineTask({
      name: 'sync',
      runEveryMinute: true,
      overlap: 'bufferOne',
      async handle ({ scheduledFor }) {
        ran.push(scheduledFor.toISOString())
        if (ran.length === 1) await first.opened
      }
    })])
    const one = await r.app.scheduler.tick(at('2026-05-11 10:00'))
    t.same(one.runs.map(o => o.status), ['started'])
    clock.advance(1000)
    const two = await r.app.scheduler.tick(at('2026-05-11 10:01'))
    t.match(two.runs, [{ task: 'sync', status: 'buffered', reason: BUFFERED_REASON, scheduledFor: '2026-05-11T10:01:00.000Z' }])
    clock.advance(1000)
    const three = await r.app.scheduler.tick(at('2026-05-11 10:02'))
    t.match(three.runs, [{ status: 'skipped', reason: 'overlap' }], 'one run is buffered at most: the next overlap is skipped')
    clock.advance(1000)
    t.same(ran, ['2026-05-11T10:00:00.000Z'], 'nothing ran while the first run held the lease')

    const buffered = r.nextEnd(run => run.scheduledFor.toISOString() === '2026-05-11T10:01:00.000Z' && run.status === 'succeeded')
    first.open()
    const run = await buffered
    t.equal(run.attempt, 1)
    t.equal(run.forced, false)
    t.same(ran, ['2026-05-11T10:00:00.000Z', '2026-05-11T10:01:00.000Z'], 'the buffered occurrence ran once, right after')

    const history = await r.app.scheduler.history({ task: ['sync'] })
    t.same(history.runs.map(h => [h.scheduledFor.toISOString().slice(11, 16), h.status, h.error ?? '']).reverse(), [
      ['10:00', 'succeeded', ''],
      ['10:01', 'skipped', BUFFERED_REASON],
      ['10:02', 'skipped', 'overlap'],
      ['10:01', 'succeeded', '']
    ], 'the operator sees the buffered record, then the run')

    // Nothing is buffered any more: the next tick runs the next occurrence, no extra run.
    const four = await r.app.scheduler.tick(at('2026-05-11 10:03'))
    await four.settled
    t.same(four.runs.map(o => [o.scheduledFor, o.status]), [['2026-05-11T10:03:00.000Z', 'started']])
    t.equal(ran.length, 3)
  })

  t.test(`${kind}: cancelOther aborts the running run with reason superseded (cancelled), then runs the new one`, async t => {
    const store = makeStore(t)
    const clock = testClock(at('2026-05-11 10:00'))
    const reasons: unknown[] = []
    const ran: string[] = []
    const r = await replica(t, store, clock, [defineTask({
      name: 'report',
      runEveryMinute: true,
      overlap: 'cancelOther',
      async handle ({ scheduledFor, signal }) {
        ran.push(scheduledFor.toISOString())
        if (ran.length > 1) return
        reasons.push(await aborted(signal))
        throw signal.reason
      }
    })])
    const one = await r.app.scheduler.tick(at('2026-05-11 10:00'))
    t.same(one.runs.map(o => o.status), ['started'])
    const second = r.nextEnd(run => run.scheduledFor.toISOString() === '2026-05-11T10:01:00.000Z')
    const two = await r.app.scheduler.tick(at('2026-05-11 10:01'))
    t.match(two.runs, [{ status: 'buffered', scheduledFor: '2026-05-11T10:01:00.000Z' }])
    const [first] = await one.settled
    t.match(first, { status: 'cancelled', error: /superseded by a newer occurrence/ })
    t.equal(reasons.length, 1)
    t.ok(reasons[0] instanceof RunAbortedError)
    t.equal((reasons[0] as RunAbortedError).reason, 'superseded')
    const next = await second
    t.equal(next.status, 'succeeded')
    t.same(ran, ['2026-05-11T10:00:00.000Z', '2026-05-11T10:01:00.000Z'])
    const cancelled = await r.app.scheduler.history({ status: ['cancelled'] })
    t.same(cancelled.runs.map(c => [c.task, c.scheduledFor.toISOString()]), [['report', '2026-05-11T10:00:00.000Z']])
    t.equal(cancelled.total, 1)
  })

  t.test(`${kind}: two replicas: cancelOther reaches the other replica at its lease renewal; bufferOne runs once on the holder`, async t => {
    const store = makeStore(t)
    const clock = testClock(at('2026-05-11 10:00'))
    const hold = gate()
    const perReplica = { a: [] as string[], b: [] as string[] }
    const task = (name: 'a' | 'b', overlap: 'cancelOther' | 'bufferOne', taskName: string): TaskObject => defineTask({
      name: taskName,
      runEveryMinute: true,
      overlap,
      async handle ({ scheduledFor, signal }) {
        perReplica[name].push(`${taskName} ${scheduledFor.toISOString().slice(11, 16)}`)
        if (scheduledFor.getTime() !== at('2026-05-11 10:00').getTime()) return
        if (overlap === 'bufferOne') return await hold.opened
        await aborted(signal)
        throw signal.reason
      }
    })
    // A short lease: renewals (real timers) every third of a second. Schedule time is still driven by tick().
    const options = { leaseTime: '1 second' }
    const a = await replica(t, store, clock, [task('a', 'cancelOther', 'cancel'), task('a', 'bufferOne', 'buffer')], options)
    const b = await replica(t, store, clock, [task('b', 'cancelOther', 'cancel'), task('b', 'bufferOne', 'buffer')], options)

    const one = await a.app.scheduler.tick(at('2026-05-11 10:00'))
    t.same(one.runs.map(o => o.status), ['started', 'started'])
    const cancelledOnA = a.nextEnd(run => run.task === 'cancel' && run.status === 'cancelled')
    const newOnA = a.nextEnd(run => run.task === 'cancel' && run.status === 'succeeded')
    const bufferedOnA = a.nextEnd(run => run.task === 'buffer' && run.status === 'succeeded' && run.scheduledFor.getTime() === at('2026-05-11 10:01').getTime())
    const two = await b.app.scheduler.tick(at('2026-05-11 10:01'))
    t.same(two.runs.map(o => [o.task, o.status]), [['cancel', 'buffered'], ['buffer', 'buffered']])

    const cancelled = await cancelledOnA
    t.match(cancelled.error, /superseded/)
    const next = await newOnA
    t.equal(next.scheduledFor.toISOString(), '2026-05-11T10:01:00.000Z')
    t.same(perReplica.a.filter(x => x.startsWith('cancel')), ['cancel 10:00', 'cancel 10:01'], 'the holder ran the new occurrence as soon as its run stopped')

    hold.open()
    await bufferedOnA
    t.same(perReplica.a.filter(x => x.startsWith('buffer')), ['buffer 10:00', 'buffer 10:01'])
    t.same(perReplica.b, [], 'the replica that buffered ran nothing')
    // B's next tick finds nothing buffered any more: the occurrence ran exactly once.
    const three = await b.app.scheduler.tick(at('2026-05-11 10:01:40'))
    await three.settled
    t.same(perReplica.b, [])
    const runs = (await a.app.scheduler.history({ task: ['buffer'], status: ['succeeded'] })).runs
    t.same(runs.map(run => run.scheduledFor.toISOString().slice(11, 16)).sort(), ['10:00', '10:01'])
  })

  t.test(`${kind}: a buffered run whose holder crashed is started once the lease expired`, async t => {
    const store = makeStore(t)
    // A's clock stands still, so its renewals never extend the lease past 10:00:10: it "crashed".
    const clockA = testClock(at('2026-05-11 10:00'))
    const clockB = testClock(at('2026-05-11 10:00:05'))
    const never = gate()
    const ranInB: string[] = []
    const a = await replica(t, store, clockA, [defineTask({ name: 'job', runEveryMinute: true, overlap: 'bufferOne', async handle () { await never.opened } })], { leaseTime: '10 seconds' })
    const b = await replica(t, store, clockB, [defineTask({ name: 'job', runEveryMinute: true, overlap: 'bufferOne', handle ({ scheduledFor }) { ranInB.push(scheduledFor.toISOString()) } })], { leaseTime: '10 seconds' })
    t.same((await a.app.scheduler.tick(at('2026-05-11 10:00'))).runs.map(o => o.status), ['started'])
    t.same((await b.app.scheduler.tick(at('2026-05-11 10:01'))).runs.map(o => o.status), ['buffered'])
    const bufferedRan = b.nextEnd(run => run.scheduledFor.getTime() === at('2026-05-11 10:01').getTime())
    clockB.set(at('2026-05-11 10:02:30'))
    const tick = await b.app.scheduler.tick(at('2026-05-11 10:02:30'))
    t.same(tick.runs.map(o => [o.scheduledFor, o.status]), [['2026-05-11T10:02:00.000Z', 'started']], 'the due occurrence starts, A\'s run is reaped')
    await tick.settled
    const run = await bufferedRan
    t.equal(run.status, 'succeeded')
    t.same(ranInB, ['2026-05-11T10:02:00.000Z', '2026-05-11T10:01:00.000Z'], 'then the buffered occurrence, once')
    const abandoned = await b.app.scheduler.history({ status: ['abandoned'] })
    t.equal(abandoned.total, 1)
    never.open()
  })
}

t.test('allow runs both; allowOverlap is its deprecated alias, with a warning naming the task', async t => {
  const warnings: string[] = []
  const hold = gate()
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => warnings.push(line) } } })
  await app.register(fastifyScheduler, {
    dir: false,
    store: memoryStore(),
    timezone: 'UTC',
    routes: false,
    tasks: [
      defineTask({ name: 'new', runEveryMinute: true, overlap: 'allow', async handle () { await hold.opened } }),
      defineTask({ name: 'old', runEveryMinute: true, allowOverlap: true, async handle () { await hold.opened } })
    ]
  })
  await app.ready()
  t.teardown(() => app.close())
  const deprecations = warnings.filter(line => line.includes('allowOverlap is deprecated'))
  t.equal(deprecations.length, 1)
  t.match(deprecations[0], /options\.tasks\[1\]: allowOverlap is deprecated: use overlap: 'allow'/)
  const one = await app.scheduler.tick(at('2026-05-11 10:00'))
  const two = await app.scheduler.tick(at('2026-05-11 10:01'))
  t.same(two.runs.map(o => [o.task, o.status]), [['new', 'started'], ['old', 'started']])
  hold.open()
  await one.settled
  await two.settled
})

t.test('the plugin default applies to tasks that set none; skip stays the default', async t => {
  const hold = gate()
  const app = await buildApp({
    overlap: 'bufferOne',
    tasks: [
      defineTask({ name: 'inherits', runEveryMinute: true, async handle () { await hold.opened } }),
      defineTask({ name: 'own', runEveryMinute: true, overlap: 'skip', async handle () { await hold.opened } })
    ]
  })
  t.teardown(() => app.close())
  const one = await app.scheduler.tick(at('2026-05-11 10:00'))
  const two = await app.scheduler.tick(at('2026-05-11 10:01'))
  t.same(two.runs.map(o => [o.task, o.status]), [['inherits', 'buffered'], ['own', 'skipped']])
  hold.open()
  await one.settled
})

t.test('a wrong policy fails the boot naming the task and the option, with a did-you-mean', async t => {
  const boot = async (options: SchedulerOptions) => {
    const app = Fastify({ logger: false })
    await app.register(fastifyScheduler, { dir: false, store: memoryStore(), timezone: 'UTC', routes: false, ...options })
    try {
      await app.ready()
    } finally {
      await app.close()
    }
  }
  await t.rejects(boot({ tasks: [defineTask({ name: 'x', runEveryMinute: true, overlap: 'bufferone' as 'bufferOne', handle () {} })] }), {
    code: 'FST_SCHEDULER_INVALID_TASK',
    message: /options\.tasks\[0\]: overlap: "bufferone" is not an overlap policy — did you mean 'bufferOne'\? \(accepted: 'skip', 'bufferOne', 'cancelOther', 'allow'\)/
  })
  await t.rejects(boot({ tasks: [defineTask({ name: 'x', runEveryMinute: true, overlap: 'skip', allowOverlap: true, handle () {} })] }), {
    message: /options\.tasks\[0\]: allowOverlap and overlap both given/
  })
  await t.rejects(boot({ overlap: 'cancelOthers' as 'cancelOther' }), {
    code: 'FST_SCHEDULER_INVALID_OPTION',
    message: /overlap: "cancelOthers" is not an overlap policy — did you mean 'cancelOther'\?/
  })
  await t.rejects(boot({ overlap: 3 as unknown as 'skip' }), { message: /overlap: 3 is not an overlap policy \(accepted/ })
})

t.test('over HTTP: the trigger answers buffered under skipped; history and listing accept cancelled runs', async t => {
  const token = 'overlap-test-token-0123456789'
  const headers = { authorization: `Bearer ${token}` }
  const clock = testClock(at('2026-05-11 10:00'))
  const app = Fastify({ logger: false })
  await app.register(fastifyScheduler, {
    dir: false,
    store: memoryStore(),
    timezone: 'UTC',
    clock,
    leaseTime: '5 minutes',
    auth: { tokens: [token] },
    tasks: [defineTask({
      name: 'report',
      runEveryMinute: true,
      overlap: 'cancelOther',
      async handle ({ scheduledFor, signal }) {
        if (scheduledFor.getUTCMinutes() !== 0) return
        await aborted(signal)
        throw signal.reason
      }
    })]
  })
  await app.ready()
  t.teardown(() => app.close())

  const first = await app.inject({ method: 'POST', url: '/_schedule/run', headers, payload: { wait: false } })
  t.equal(first.statusCode, 202)
  clock.set(at('2026-05-11 10:01')) // within the 5-minute lease
  const second = await app.inject({ method: 'POST', url: '/_schedule/run', headers, payload: { wait: true } })
  const answer = second.json()
  t.equal(second.statusCode, 200, 'a buffered occurrence is no failure')
  t.match(answer.skipped, [{ task: 'report', status: 'buffered', reason: BUFFERED_REASON, scheduledFor: '2026-05-11T10:01:00.000Z' }])

  // The superseded run stopped at once (same process), and the new one ran after it.
  let page: { runs: Array<{ status: string, scheduledFor: string }>, total: number } = { runs: [], total: 0 }
  for (let i = 0; i < 100 && !page.runs.some(run => run.status === 'succeeded'); i++) {
    await new Promise(resolve => setImmediate(resolve))
    page = (await app.inject({ method: 'GET', url: '/_schedule/runs?task=report', headers })).json()
  }
  t.same(page.runs.map(run => `${run.scheduledFor.slice(11, 16)} ${run.status}`).sort(),
    ['10:00 cancelled', '10:01 skipped', '10:01 succeeded'])
  const cancelled = await app.inject({ method: 'GET', url: '/_schedule/runs?status=cancelled', headers })
  t.equal(cancelled.statusCode, 200, 'the history filter accepts cancelled')
  t.equal(cancelled.json().total, 1)
  const listing = await app.inject({ method: 'GET', url: '/_schedule?recent=5', headers })
  t.equal(listing.statusCode, 200, 'the listing serializes cancelled runs')
  t.ok(listing.json().tasks[0].recent.some((run: { status: string }) => run.status === 'cancelled'))
})
