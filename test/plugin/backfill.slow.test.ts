/**
 * A backfill sent to three replicas at once (docs/PAYLOADS.md#backfills), on one SQLite file,
 * one Redis and one PostgreSQL: a 31-day backfill of a daily task gives exactly 31 runs, in
 * order. The ground truth is a ledger the task writes itself. Time is driven through
 * tick(now); nothing sleeps.
 */
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { defineTask } from '../../tasks/task.js'
import type { TaskContext } from '../../tasks/types.js'
import { at, buildApp } from '../helpers/app.js'
import { sharedStore } from '../helpers/store-of.js'

const MINUTE = 60_000
const DAY = 24 * 60 * MINUTE

for (const kind of ['sqlite', 'redis', 'postgres'] as const) {
  t.test(`${kind}: a 31-day backfill sent to three replicas at once runs exactly 31 times, oldest first`, async t => {
    const makeStore = await sharedStore(t, kind, 'backfill-cluster')
    if (makeStore === undefined) return
    const ledger: string[] = []
    const apps: FastifyInstance[] = []
    for (let i = 0; i < 3; i++) {
      const task = defineTask({
        name: 'daily',
        runAt: '02:00',
        async handle (ctx: TaskContext) {
          ledger.push(`${ctx.scheduledFor.toISOString().slice(0, 10)} ${ctx.trigger}`)
          await new Promise(resolve => setImmediate(resolve))
        }
      })
      const app = await buildApp({ tasks: [task], store: makeStore(), maxClockSkew: false })
      t.teardown(() => app.close())
      apps.push(app)
    }
    const now = at('2026-06-01 10:00')
    const range = { from: at('2026-05-01 00:00'), to: at('2026-05-31 23:59'), now }
    const answers = await Promise.all(apps.map(app => app.scheduler.backfill('daily', range)))
    t.equal(new Set(answers.map(a => a.id)).size, 1, 'one backfill')
    t.equal(answers.filter(a => a.created).length, 1, 'created once')
    t.ok(answers.every(a => a.occurrences === 31))

    for (let round = 0; round < 45; round++) {
      const when = new Date(now.getTime() + round * MINUTE)
      await Promise.all(apps.map(async app => await (await app.scheduler.tick(when)).settled))
    }
    const expected = Array.from({ length: 31 }, (_, i) => `${new Date(at('2026-05-01 02:00').getTime() + i * DAY).toISOString().slice(0, 10)} backfill`)
    t.same(ledger, expected, 'each of the 31 occurrences ran exactly once, in order')
    const listing = await apps[2]!.scheduler.list(now)
    t.same(listing.tasks[0]!.backfills, [], 'finished on every replica')
    const history = await apps[0]!.scheduler.history({ task: ['daily'], limit: 100 })
    t.equal(history.runs.filter(r => r.trigger === 'backfill' && r.status === 'succeeded').length, 31)
  })
}
