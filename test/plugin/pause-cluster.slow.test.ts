/**
 * Pause across replicas (docs/PAUSE.md): three app instances on one SQLite file, one Redis,
 * one PostgreSQL. A pause made on one is obeyed by the others at their next tick, and a
 * pause racing 50 concurrent ticks never lets a tick issued after `pause()` resolved start a
 * run. The ground truth is a ledger the task writes itself.
 */
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { defineTask } from '../../tasks/task.js'
import type { TaskContext } from '../../tasks/types.js'
import type { Store } from '../../plugin/stores/store.js'
import { at, buildApp } from '../helpers/app.js'
import { sharedStore } from '../helpers/store-of.js'

type MakeStore = () => Store
const MINUTE = 60_000

async function replicas (t: Test, makeStore: MakeStore, count: number, ledger: string[]): Promise<FastifyInstance[]> {
  const apps: FastifyInstance[] = []
  for (let i = 0; i < count; i++) {
    const task = defineTask({
      name: 'job',
      runEveryMinute: true,
      handle (ctx: TaskContext) { ledger.push(ctx.scheduledFor.toISOString().slice(11, 16)) }
    })
    const app = await buildApp({ tasks: [task], store: makeStore(), maxClockSkew: false })
    t.teardown(() => app.close())
    apps.push(app)
  }
  return apps
}

async function tickAt (app: FastifyInstance, when: Date): Promise<void> {
  await (await app.scheduler.tick(when)).settled
}

for (const kind of ['sqlite', 'redis', 'postgres'] as const) {
  t.test(`${kind}: a pause on one replica is obeyed by the others at their next tick; a resume on a third frees it`, async t => {
    const makeStore = await sharedStore(t, kind, 'pause-cluster')
    if (makeStore === undefined) return
    const ledger: string[] = []
    const [one, two, three] = await replicas(t, makeStore, 3, ledger)
    await tickAt(one!, at('2026-05-11 10:00'))
    await one!.scheduler.pause('job', { reason: 'partner down', now: at('2026-05-11 10:00:30') })
    await tickAt(two!, at('2026-05-11 10:01'))
    await tickAt(three!, at('2026-05-11 10:02'))
    t.same(ledger, ['10:00'], 'no replica ran it while paused')
    const listing = await three!.scheduler.list(at('2026-05-11 10:02'))
    t.match(listing.tasks[0]!.paused, { reason: 'partner down', all: false }, 'every replica lists the pause')
    const resumed = await three!.scheduler.resume('job', { now: at('2026-05-11 10:02:30') })
    t.match(resumed.skipped, [{ task: 'job', occurrences: 2 }])
    await tickAt(two!, at('2026-05-11 10:02:40'))
    t.same(ledger, ['10:00'], 'the held-back occurrences stay skipped on another replica')
    await tickAt(one!, at('2026-05-11 10:03'))
    await tickAt(two!, at('2026-05-11 10:03'))
    t.same(ledger, ['10:00', '10:03'], 'the next occurrence runs once')
  })

  t.test(`${kind}: a pause racing 50 concurrent ticks: no tick issued after pause() resolved starts a run`, async t => {
    const makeStore = await sharedStore(t, kind, 'pause-cluster')
    if (makeStore === undefined) return
    const ledger: string[] = []
    const apps = await replicas(t, makeStore, 2, ledger)
    const start = at('2026-05-11 10:00').getTime()
    // Warm every replica (store init, task rows) so the race is between claims and the pause.
    await Promise.all(apps.map(app => tickAt(app, new Date(start))))
    const before = Array.from({ length: 25 }, (_, i) => tickAt(apps[i % 2]!, new Date(start + (i + 1) * MINUTE)))
    await apps[0]!.scheduler.pause({ now: new Date(start + 30 * MINUTE) })
    const afterMinutes = Array.from({ length: 25 }, (_, i) => start + (i + 26) * MINUTE)
    const after = afterMinutes.map((ms, i) => apps[i % 2]!.scheduler.tick(new Date(ms)))
    const outcomes = (await Promise.all(after)).flatMap(result => result.runs)
    await Promise.all(before)
    // Concurrent ticks of one replica mostly find the task already taken by another in flight,
    // so most answer nothing; those that answer must answer paused.
    t.ok(outcomes.every(o => o.status === 'skipped' && o.reason === 'paused'), `every outcome of a tick after the pause says paused (${outcomes.length} of them)`)
    for (const [i, app] of apps.entries()) {
      const { runs } = await app.scheduler.tick(new Date(start + (51 + i) * MINUTE))
      t.equal(runs.length, 1, `replica ${i + 1}, ticked once the race settled: one outcome`)
      t.match(runs[0], { status: 'skipped', reason: 'paused' }, 'and it says paused')
    }
    const late = afterMinutes.map(ms => new Date(ms).toISOString().slice(11, 16)).filter(minute => ledger.includes(minute))
    t.same(late, [], 'the ledger has no run of a tick issued after pause() resolved')
    t.equal(new Set(ledger).size, ledger.length, 'and nothing ran twice')
  })
}
