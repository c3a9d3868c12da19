/**
 * Backfills through `app.scheduler.backfill` (docs/PAYLOADS.md#backfills), on the memory store
 * and on a real SQLite file. Time is driven through tick(now); nothing sleeps.
 */
import t from 'tap'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { defineTask } from '../../tasks/task.js'
import { memoryStore } from '../../plugin/stores/memory.js'
import { sqliteStore } from '../../plugin/stores/sqlite/index.js'
import type { Store } from '../../plugin/stores/store.js'
import { InvalidInputError } from '../../core/errors.js'
import { at, buildApp } from '../helpers/app.js'
import type { TaskContext } from '../../tasks/types.js'

const stores: Array<[string, () => Store]> = [
  ['memory', () => memoryStore()],
  ['sqlite', () => sqliteStore({ path: join(mkdtempSync(join(tmpdir(), 'fst-backfill-')), 'db.sqlite') })]
]

function daily () {
  const ran: string[] = []
  const task = defineTask({
    name: 'report',
    runAt: '02:00',
    handle (ctx: TaskContext) { ran.push(`${ctx.scheduledFor.toISOString().slice(5, 10)} ${ctx.trigger}`) }
  } as Parameters<typeof defineTask>[0])
  return { task, ran }
}

type App = Awaited<ReturnType<typeof buildApp>>
async function tickAt (app: App, date: Date) {
  return await (await app.scheduler.tick(date)).settled
}

/** Whole ticks one minute apart from `start`, each waited for. */
async function ticks (app: App, start: string, n: number) {
  const outcomes = []
  for (let i = 0; i < n; i++) outcomes.push(...await tickAt(app, new Date(at(start).getTime() + i * 60_000)))
  return outcomes
}

for (const [kind, makeStore] of stores) {
  t.test(`${kind}: every occurrence in the range runs once, oldest first; one already run is skipped`, async t => {
    const { task, ran } = daily()
    const app = await buildApp({ tasks: [task], store: makeStore() })
    t.teardown(() => app.close())
    await tickAt(app, at('2026-05-10 02:00'))
    t.same(ran, ['05-10 api'], 'the scheduled run of May 10')

    const now = at('2026-05-11 00:00')
    const answer = await app.scheduler.backfill('report', { from: at('2026-05-01 00:00'), to: at('2026-05-10 23:00'), now })
    t.match(answer, { task: 'report', occurrences: 10, done: 0, skipped: 0, next: '2026-05-01T02:00:00.000Z', created: true })
    const again = await app.scheduler.backfill('report', { from: at('2026-05-01 00:00'), to: at('2026-05-10 23:00'), now })
    t.equal(again.id, answer.id, 'the same backfill sent twice is one backfill')
    t.equal(again.created, false)

    const listing = await app.scheduler.list(now)
    t.match(listing.tasks[0]!.backfills, [{ id: answer.id, occurrences: 10, next: '2026-05-01T02:00:00.000Z' }], 'the listing shows it in progress')

    const outcomes = await ticks(app, '2026-05-11 00:00', 12)
    t.same(ran, ['05-10 api', ...['01', '02', '03', '04', '05', '06', '07', '08', '09'].map(d => `05-${d} backfill`)],
      'each occurrence ran once, oldest first; May 10 (already run) was not rerun')
    t.equal(outcomes.filter(o => o.status === 'succeeded').length, 9, 'one run per tick')

    const after = await app.scheduler.list(at('2026-05-11 00:20'))
    t.same(after.tasks[0]!.backfills, [], 'finished: no longer in progress')
    const history = await app.scheduler.history({ task: ['report'] })
    const backfilled = history.runs.filter(r => r.trigger === 'backfill')
    t.equal(backfilled.length, 9)
    t.ok(backfilled.every(r => r.status === 'succeeded' && !r.forced))

    // Sent again once finished: a new backfill, whose occurrences all have records now.
    const third = await app.scheduler.backfill('report', { from: at('2026-05-01 00:00'), to: at('2026-05-10 23:00'), now })
    t.equal(third.created, true)
    await ticks(app, '2026-05-11 01:00', 3)
    t.equal(ran.length, 10, 'nothing reran')
    t.same((await app.scheduler.list(at('2026-05-11 01:05'))).tasks[0]!.backfills, [])
  })

  t.test(`${kind}: a backfill of a paused task waits for its resume`, async t => {
    const { task, ran } = daily()
    const app = await buildApp({ tasks: [task], store: makeStore() })
    t.teardown(() => app.close())
    await tickAt(app, at('2026-05-10 03:00'))
    await app.scheduler.pause('report', { now: at('2026-05-10 03:00') })
    await app.scheduler.backfill('report', { from: at('2026-05-07 00:00'), to: at('2026-05-08 23:00'), now: at('2026-05-10 03:00') })
    await ticks(app, '2026-05-10 03:01', 3)
    t.same(ran, [], 'nothing ran while paused')
    await app.scheduler.resume('report', { now: at('2026-05-10 03:05') })
    await ticks(app, '2026-05-10 03:06', 3)
    t.same(ran, ['05-07 backfill', '05-08 backfill'])
  })

  t.test(`${kind}: refused ranges`, async t => {
    const { task, ran } = daily()
    const app = await buildApp({ tasks: [task], store: makeStore(), maxBackfill: 5 })
    t.teardown(() => app.close())
    const now = at('2026-05-11 00:00')
    await t.rejects(app.scheduler.backfill('report', { from: at('2026-05-05 00:00'), to: at('2026-05-01 00:00'), now }),
      InvalidInputError, 'from after to')
    await t.rejects(app.scheduler.backfill('report', { from: at('2026-05-05 00:00'), to: at('2026-05-12 00:00'), now }),
      { code: 'FST_SCHEDULER_INVALID_INPUT', message: /future/ }, 'a range ending in the future')
    await t.rejects(app.scheduler.backfill('report', { from: at('2026-05-01 00:00'), to: at('2026-05-10 23:00'), now }),
      { code: 'FST_SCHEDULER_INVALID_INPUT', message: /10 occurrences.*maxBackfill is 5/ }, 'over maxBackfill: names the count and the option')
    await t.rejects(app.scheduler.backfill('report', { from: at('2026-05-01 03:00'), to: at('2026-05-01 23:00'), now }),
      { message: /no occurrence/ })
    await t.rejects(app.scheduler.backfill('nope', { from: at('2026-05-01 00:00'), to: at('2026-05-02 00:00'), now }),
      { code: 'FST_SCHEDULER_UNKNOWN_TASK' })
    const ok = await app.scheduler.backfill('report', { from: at('2026-05-01 02:00'), to: at('2026-05-05 02:00'), now })
    t.equal(ok.occurrences, 5, 'both ends are inclusive; exactly maxBackfill is accepted')
    t.same(ran, [])
  })
}

t.test('maxBackfill is validated', async t => {
  await t.rejects(buildApp({ maxBackfill: 0 }), /maxBackfill/)
  await t.rejects(buildApp({ maxBackfill: 1.5 }), /maxBackfill/)
})

t.test('sqlite: a backfill survives a restart and goes on where it was', async t => {
  const path = join(mkdtempSync(join(tmpdir(), 'fst-backfill-')), 'db.sqlite')
  const first = daily()
  const app1 = await buildApp({ tasks: [first.task], store: sqliteStore({ path }) })
  await app1.scheduler.backfill('report', { from: at('2026-05-01 00:00'), to: at('2026-05-04 23:00'), now: at('2026-05-10 00:00') })
  await ticks(app1, '2026-05-10 00:00', 2)
  await app1.close()
  t.same(first.ran, ['05-01 backfill', '05-02 backfill'])

  const second = daily()
  let clock = at('2026-05-10 00:10').getTime()
  const app2 = await buildApp({ tasks: [second.task], store: sqliteStore({ path }), clock: () => clock })
  t.teardown(() => app2.close())
  // The first whole tick's heartbeat learns the pending backfill; the next ticks move it.
  await tickAt(app2, new Date(clock))
  await new Promise(resolve => setImmediate(resolve))
  for (let i = 1; i <= 4; i++) {
    clock += 60_000
    await tickAt(app2, new Date(clock))
  }
  t.same(second.ran, ['05-03 backfill', '05-04 backfill'])
  t.same((await app2.scheduler.list(new Date(clock))).tasks[0]!.backfills, [])
})

t.test('a tick with no pending backfill makes no store call; a finished backfill stops costing any', async t => {
  const inner = memoryStore()
  const calls: string[] = []
  const store = new Proxy(inner, {
    get (target, property, receiver) {
      const value = Reflect.get(target, property, receiver)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        calls.push(String(property))
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    }
  })
  const clock = at('2026-05-11 00:00').getTime()
  const { task, ran } = daily()
  const app = await buildApp({ tasks: [task], store, clock: () => clock })
  t.teardown(() => app.close())
  await tickAt(app, at('2026-05-11 00:00'))
  await new Promise(resolve => setImmediate(resolve))
  calls.length = 0
  await ticks(app, '2026-05-11 00:01', 5)
  t.same(calls, [], 'idle ticks: no store call')
  await app.scheduler.backfill('report', { from: at('2026-05-09 00:00'), to: at('2026-05-10 23:00'), now: at('2026-05-11 00:06') })
  await ticks(app, '2026-05-11 00:06', 3)
  t.same(ran, ['05-09 backfill', '05-10 backfill'])
  calls.length = 0
  await ticks(app, '2026-05-11 00:10', 5)
  t.same(calls, [], 'finished: idle ticks are store-free again')
})
