/**
 * The tick path (docs/ARCHITECTURE.md#the-tick-path) by example: when a task runs, catch-up, missed occurrences, firstSeen, forced runs.
 * Time is driven through tick(now); nothing sleeps.
 */
import t from 'tap'
import { defineTask } from '../../tasks/task.js'
import { at, buildApp } from '../helpers/app.js'
import type { TaskContext } from '../../tasks/types.js'
import type { Scheduler } from '../../plugin/scheduler.js'

/** A task that records every occurrence it ran for. */
function recorder (definition: Record<string, unknown>) {
  const ran: string[] = []
  const task = defineTask({
    name: 'task',
    ...definition,
    handle (ctx: TaskContext) { ran.push(ctx.scheduledFor.toISOString()) }
  } as Parameters<typeof defineTask>[0])
  return { task, ran }
}

async function tickAt (app: Awaited<ReturnType<typeof buildApp>>, text: string) {
  const result = await app.scheduler.tick(at(text))
  return result.settled
}

t.test('a 17:00 task pinged at 17:03 runs once', async t => {
  const { task, ran } = recorder({ runAt: '17:00' })
  const app = await buildApp({ tasks: [task] })
  t.teardown(() => app.close())
  await tickAt(app, '2026-05-11 16:58')
  const outcomes = await tickAt(app, '2026-05-11 17:03')
  t.same(outcomes.map(o => o.status), ['succeeded'])
  await tickAt(app, '2026-05-11 17:04')
  await tickAt(app, '2026-05-11 18:00')
  t.same(ran, ['2026-05-11T17:00:00.000Z'])
})

t.test('a pinger every 5 minutes runs an every-minute task every 5 minutes', async t => {
  const { task, ran } = recorder({ runEveryMinute: true })
  const app = await buildApp({ tasks: [task] })
  t.teardown(() => app.close())
  for (let minute = 0; minute <= 30; minute += 5) {
    await tickAt(app, `2026-05-11 10:${String(minute).padStart(2, '0')}`)
  }
  t.same(ran, [0, 5, 10, 15, 20, 25, 30].map(m => `2026-05-11T10:${String(m).padStart(2, '0')}:00.000Z`))
})

t.test('missed minutes are coalesced into one run at the next tick', async t => {
  const { task, ran } = recorder({ runEvery: '7 minutes' })
  const app = await buildApp({ tasks: [task] })
  t.teardown(() => app.close())
  await tickAt(app, '2026-05-11 10:00')
  await tickAt(app, '2026-05-11 10:30') // :07 … :28 were owed; only :28 runs
  t.same(ran, ['2026-05-11T10:00:00.000Z', '2026-05-11T10:28:00.000Z'])
})

t.test('catchUp: false runs only in the occurrence minute and records the rest as missed', async t => {
  const { task, ran } = recorder({ runAt: '17:00', catchUp: false })
  const app = await buildApp({ tasks: [task] })
  t.teardown(() => app.close())
  await tickAt(app, '2026-05-11 16:00')
  const late = await tickAt(app, '2026-05-11 17:01')
  t.equal(late[0].status, 'missed')
  t.match(late[0].reason, /late by 1 min/)
  const onTime = await tickAt(app, '2026-05-12 17:00:45')
  t.equal(onTime[0].status, 'succeeded')
  t.same(ran, ['2026-05-12T17:00:00.000Z'])
  const history = await app.scheduler.history({ task: ['task'] })
  t.same(history.runs.map(r => [r.status, r.scheduledFor.toISOString()]), [
    ['succeeded', '2026-05-12T17:00:00.000Z'],
    ['missed', '2026-05-11T17:00:00.000Z']
  ])
})

t.test("catchUp: '15 minutes' runs a tick 10 minutes late and misses one 20 minutes late", async t => {
  const { task, ran } = recorder({ runAt: '17:00', catchUp: '15 minutes' })
  const app = await buildApp({ tasks: [task] })
  t.teardown(() => app.close())
  await tickAt(app, '2026-05-11 16:00')
  t.equal((await tickAt(app, '2026-05-11 17:10'))[0].status, 'succeeded')
  t.equal((await tickAt(app, '2026-05-12 17:20'))[0].status, 'missed')
  t.same(ran, ['2026-05-11T17:00:00.000Z'])
})

t.test('a task first seen on May 11 running every 3 days first runs on May 12', async t => {
  const { task, ran } = recorder({ runEvery: '3 days' })
  const app = await buildApp({ tasks: [task] })
  t.teardown(() => app.close())
  // May 9 was the previous occurrence: owed before the task existed, so never run.
  for (let hour = 10; hour < 24; hour++) await tickAt(app, `2026-05-11 ${String(hour).padStart(2, '0')}:00`)
  t.same(ran, [])
  await tickAt(app, '2026-05-12 00:00')
  await tickAt(app, '2026-05-14 23:59')
  await tickAt(app, '2026-05-15 00:01')
  t.same(ran, ['2026-05-12T00:00:00.000Z', '2026-05-15T00:00:00.000Z'])
})

t.test('forced runs ignore the schedule and leave lastOccurrence alone', async t => {
  const { task, ran } = recorder({ runAt: '17:00' })
  const app = await buildApp({ tasks: [task] })
  t.teardown(() => app.close())
  await tickAt(app, '2026-05-11 16:00')
  const forced = await app.scheduler.run('task', { force: true, now: at('2026-05-11 16:59') })
  t.equal(forced.status, 'succeeded')
  await tickAt(app, '2026-05-11 17:00')
  t.same(ran, ['2026-05-11T16:59:00.000Z', '2026-05-11T17:00:00.000Z'])
  const history = await app.scheduler.history()
  t.same(history.runs.map(r => r.trigger), ['api', 'api'])
})

t.test('a manual-only task never runs on a tick but runs when forced', async t => {
  const { task, ran } = recorder({})
  const app = await buildApp({ tasks: [task] })
  t.teardown(() => app.close())
  await tickAt(app, '2026-05-11 00:00')
  await tickAt(app, '2026-05-12 00:00')
  t.same(ran, [])
  const listing = await app.scheduler.list(at('2026-05-12 00:00'))
  t.equal(listing.tasks[0].schedule, 'manual only')
  t.equal(listing.tasks[0].nextRun, null)
  await app.scheduler.run('task', { force: true, now: at('2026-05-12 08:00') })
  t.same(ran, ['2026-05-12T08:00:00.000Z'])
})

t.test('a disabled task is listed and never runs, not even forced', async t => {
  const { task, ran } = recorder({ runEveryMinute: true, enabled: false })
  const app = await buildApp({ tasks: [task] })
  t.teardown(() => app.close())
  await tickAt(app, '2026-05-11 10:00')
  await app.scheduler.tick({ now: at('2026-05-11 10:01'), force: true })
  t.same(ran, [])
  const listing = await app.scheduler.list(at('2026-05-11 10:01'))
  t.equal(listing.tasks[0].enabled, false)
})

t.test('a tick going back in time (clock correction) runs nothing twice', async t => {
  const { task, ran } = recorder({ runEveryMinute: true })
  const app = await buildApp({ tasks: [task] })
  t.teardown(() => app.close())
  await tickAt(app, '2026-05-11 10:05')
  await tickAt(app, '2026-05-11 10:03')
  await tickAt(app, '2026-05-11 10:05:59')
  await tickAt(app, '2026-05-11 10:06')
  t.same(ran, ['2026-05-11T10:05:00.000Z', '2026-05-11T10:06:00.000Z'])
})

t.test('concurrent ticks in one minute run each due task once', async t => {
  const a = recorder({ name: 'a', runEveryMinute: true })
  const b = recorder({ name: 'b', runEvery: '5 minutes' })
  const app = await buildApp({ tasks: [a.task, b.task] })
  t.teardown(() => app.close())
  const ticks = Array.from({ length: 20 }, (_, i) => app.scheduler.tick(at(`2026-05-11 10:05:${String(i).padStart(2, '0')}`)))
  const results = await Promise.all(ticks)
  await Promise.all(results.map(r => r.settled))
  t.same(a.ran, ['2026-05-11T10:05:00.000Z'])
  t.same(b.ran, ['2026-05-11T10:05:00.000Z'])
})

/** The observer the metrics count coalesced occurrences with (docs/RUN-OUTPUT.md#covers). */
function observe (app: Awaited<ReturnType<typeof buildApp>>) {
  const calls: Array<[string, number]> = []
  ;(app.scheduler as unknown as Scheduler).observe({ coalesced: (task, n) => calls.push([task, n]) })
  return calls
}

t.test('covers: a run standing for several missed occurrences says which, and the observer counts them', async t => {
  const { task, ran } = recorder({ runEveryMinute: true })
  const app = await buildApp({ tasks: [task] })
  t.teardown(() => app.close())
  const calls = observe(app)
  await tickAt(app, '2026-05-11 21:42')
  await tickAt(app, '2026-05-11 21:44') // 21:43 and 21:44 owed; only 21:44 runs
  await tickAt(app, '2026-05-11 21:45') // on time: covers nothing
  t.same(ran, ['2026-05-11T21:42:00.000Z', '2026-05-11T21:44:00.000Z', '2026-05-11T21:45:00.000Z'])
  // Ordered by occurrence: the runs' startedAt is the real clock, the same millisecond here.
  const runs = (await app.scheduler.history()).runs.sort((a, b) => a.scheduledFor.getTime() - b.scheduledFor.getTime())
  t.same(runs.map(run => run.covers), [undefined, { from: at('2026-05-11 21:43'), to: at('2026-05-11 21:44'), count: 2 }, undefined],
    'the first run (first seen) and the on-time run cover only themselves; the late one covers 21:43–21:44, 2 occurrences')
  t.same(calls, [['task', 1]], 'one occurrence got no run of its own')
  const listing = await app.scheduler.list({ now: at('2026-05-11 21:45'), recent: 3 })
  t.same(listing.tasks[0]!.recent.map(run => run.covers).filter(covers => covers !== null), [{ from: '2026-05-11T21:43:00.000Z', to: '2026-05-11T21:44:00.000Z', count: 2 }], 'the listing shows it')
})

t.test('covers: counts only occurrences owed — after the last claimed, not before firstSeen — on the schedule', async t => {
  const { task } = recorder({ runEvery: '7 minutes' })
  const app = await buildApp({ tasks: [task] })
  t.teardown(() => app.close())
  const calls = observe(app)
  await tickAt(app, '2026-05-11 10:03') // first seen 10:03: 10:00 is not owed, nothing due
  await tickAt(app, '2026-05-11 10:30') // owed :07 :14 :21 :28
  const [run] = (await app.scheduler.history()).runs
  t.same(run!.covers, { from: at('2026-05-11 10:07'), to: at('2026-05-11 10:28'), count: 4 })
  t.same(calls, [['task', 3]])
})

t.test('covers: a missed record says which occurrences it stands for too', async t => {
  const { task, ran } = recorder({ runAt: '17:00', catchUp: '15 minutes' })
  const app = await buildApp({ tasks: [task] })
  t.teardown(() => app.close())
  const calls = observe(app)
  await tickAt(app, '2026-05-11 16:00')
  await tickAt(app, '2026-05-14 18:00') // 11th, 12th, 13th, 14th at 17:00 owed; the 14th is an hour late
  t.same(ran, [])
  const [missed] = (await app.scheduler.history()).runs
  t.equal(missed!.status, 'missed')
  t.same(missed!.covers, { from: at('2026-05-11 17:00'), to: at('2026-05-14 17:00'), count: 4 })
  t.same(calls, [['task', 3]])
})

t.test('covers: an observer that throws changes nothing', async t => {
  const { task, ran } = recorder({ runEveryMinute: true })
  const app = await buildApp({ tasks: [task] })
  t.teardown(() => app.close())
  ;(app.scheduler as unknown as Scheduler).observe({ coalesced: () => { throw new Error('metrics broke') } })
  await tickAt(app, '2026-05-11 10:00')
  const outcomes = await tickAt(app, '2026-05-11 10:05')
  t.same(outcomes.map(o => o.status), ['succeeded'])
  t.equal(ran.length, 2)
})
