/**
 * Overlap policies against the real servers (docs/OVERLAP.md): two instances, each with its
 * own connection to one Redis or one PostgreSQL. Instance A runs the task; instance B's tick
 * finds the lease held. `bufferOne`: the occurrence runs exactly once, right after A's run.
 * `cancelOther`: A's run is aborted with reason "superseded" at its next lease renewal (real
 * timers, a 1-second lease), recorded `cancelled`, then the new occurrence runs once. Schedule
 * time is driven by `tick(now)`; the clock of record stands still, so leases expire only by
 * renewals stopping. The tasks' ledgers are the ground truth.
 */
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyScheduler from '../../plugin.js'
import { postgresStore, redisStore } from '../../index.js'
import { RunAbortedError } from '../../plugin/runner.js'
import type { RunRecord, Store } from '../../plugin/stores/store.js'
import { defineTask } from '../../tasks/task.js'
import type { TaskObject } from '../../tasks/types.js'
import { at, testClock } from '../helpers/app.js'
import { postgresService, redisService } from '../helpers/services.js'

interface Instance {
  app: FastifyInstance
  /** Resolves with the first final record on this instance matching `pred`. */
  ended: (pred: (run: RunRecord) => boolean) => Promise<RunRecord>
}

async function instance (t: Test, store: Store, tasks: TaskObject[]): Promise<Instance> {
  const app = Fastify({ logger: false })
  await app.register(fastifyScheduler, {
    dir: false, store, timezone: 'UTC', routes: false, clock: testClock(at('2026-05-11 10:00:05')), maxClockSkew: false, leaseTime: '1 second', tasks
  })
  await app.ready()
  t.teardown(() => app.close())
  const seen: RunRecord[] = []
  const waiting = new Set<{ pred: (run: RunRecord) => boolean, resolve: (run: RunRecord) => void }>()
  app.scheduler.addHook('onRunEnd', run => {
    seen.push(run)
    for (const w of waiting) if (w.pred(run)) { waiting.delete(w); w.resolve(run) }
  })
  const ended = (pred: (run: RunRecord) => boolean) => new Promise<RunRecord>(resolve => {
    const done = seen.find(pred)
    if (done !== undefined) resolve(done)
    else waiting.add({ pred, resolve })
  })
  return { app, ended }
}

const hhmm = (d: Date) => d.toISOString().slice(11, 16)

async function overlapAcrossInstances (t: Test, makeStore: () => Store): Promise<void> {
  const ledger = { buffer: [] as string[], cancel: [] as string[] }
  const reasons: unknown[] = []
  let release!: () => void
  const held = new Promise<void>(resolve => { release = resolve })
  const tasks = (who: 'A' | 'B'): TaskObject[] => [
    defineTask({
      name: 'buffer',
      runEveryMinute: true,
      overlap: 'bufferOne',
      async handle ({ scheduledFor }) {
        ledger.buffer.push(`${hhmm(scheduledFor)} on ${who}`)
        if (hhmm(scheduledFor) === '10:00') await held
      }
    }),
    defineTask({
      name: 'cancel',
      runEveryMinute: true,
      overlap: 'cancelOther',
      async handle ({ scheduledFor, signal }) {
        ledger.cancel.push(`${hhmm(scheduledFor)} on ${who}`)
        if (hhmm(scheduledFor) !== '10:00') return
        await new Promise<void>(resolve => signal.addEventListener('abort', () => resolve(), { once: true }))
        reasons.push(signal.reason)
        throw signal.reason
      }
    })
  ]
  const a = await instance(t, makeStore(), tasks('A'))
  const b = await instance(t, makeStore(), tasks('B'))

  const first = await a.app.scheduler.tick(at('2026-05-11 10:00'))
  t.same(first.runs.map(run => `${run.task} ${run.status}`).sort(), ['buffer started', 'cancel started'])
  const cancelled = a.ended(run => run.task === 'cancel' && run.status === 'cancelled')
  const newRun = a.ended(run => run.task === 'cancel' && run.status === 'succeeded')
  const bufferedRun = a.ended(run => run.task === 'buffer' && hhmm(run.scheduledFor) === '10:01')

  const second = await b.app.scheduler.tick(at('2026-05-11 10:01'))
  t.same(second.runs.map(run => `${run.task} ${run.status}`).sort(), ['buffer buffered', 'cancel buffered'], 'B finds both leases held')
  // (Only `buffer`: the superseded `cancel` run may already have made way for the new one.)
  const third = await b.app.scheduler.tick({ now: at('2026-05-11 10:02'), tasks: ['buffer'] })
  t.match(third.runs, [{ task: 'buffer', status: 'skipped', reason: 'overlap' }], 'one buffered run at most')

  // cancelOther: A learns it at its next renewal, stops, and starts the new occurrence.
  t.match(await cancelled, { status: 'cancelled', error: /superseded/ })
  t.ok(reasons[0] instanceof RunAbortedError && reasons[0].reason === 'superseded', 'the signal\'s reason is superseded')
  t.equal(hhmm((await newRun).scheduledFor), '10:01')
  t.same(ledger.cancel, ['10:00 on A', '10:01 on A'], 'the new occurrence ran once, after the cancelled one')

  // bufferOne: nothing runs until A's run ends; then the buffered occurrence, once.
  t.same(ledger.buffer, ['10:00 on A'])
  release()
  t.equal((await bufferedRun).status, 'succeeded')
  await (await b.app.scheduler.tick(at('2026-05-11 10:02:30'))).settled
  t.same(ledger.buffer, ['10:00 on A', '10:01 on A'], 'exactly once, as soon as the running run ended')
  const history = await b.app.scheduler.history({ task: ['buffer'] })
  t.same(history.runs.map(run => `${hhmm(run.scheduledFor)} ${run.status}`).sort(),
    ['10:00 succeeded', '10:01 skipped', '10:01 succeeded', '10:02 skipped'], 'the operator sees the buffered record and the run')
  t.same((await b.app.scheduler.history({ status: ['cancelled'] })).runs.map(run => `${run.task} ${hhmm(run.scheduledFor)}`), ['cancel 10:00'])
}

t.test('Redis: bufferOne and cancelOther across two instances', async t => {
  const redis = await redisService(t)
  if (redis === undefined) return
  await overlapAcrossInstances(t, () => redisStore({ url: redis.url, prefix: redis.prefix }))
})

t.test('PostgreSQL: bufferOne and cancelOther across two instances', async t => {
  const postgres = await postgresService(t)
  if (postgres === undefined) return
  await overlapAcrossInstances(t, () => postgresStore({ connectionString: postgres.connectionString, schema: postgres.schema }))
})
