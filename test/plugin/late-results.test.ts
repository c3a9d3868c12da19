/**
 * Late results never cause a second run (docs/ARCHITECTURE.md#late-results): a replica cut off
 * from the store finishes its run while another replica reaps it; the late record, when it
 * lands, is fenced to the newest attempt and cancels a retry that has not started. Two apps
 * share one memory store, each through its own switch (its own view of the network); time is
 * the tests' clock. A ledger written by the task itself is the ground truth.
 */
import t, { type Test } from 'tap'
import { FinalRecords } from '../../plugin/final-records.js'
import { memoryStore } from '../../plugin/stores/memory.js'
import type { Store } from '../../plugin/stores/store.js'
import { defineTask } from '../../tasks/task.js'
import { at, buildApp, testClock, type TestClock } from '../helpers/app.js'
import { interceptStore } from '../helpers/faulty-store.js'
import { reportLedger } from '../helpers/ledger.js'
import { sampleRun } from '../../plugin/stores/conformance.js'

/** One replica's view of a shared store: `cut()` makes every call fail, as a partition would. */
function viewOf (shared: Store) {
  let cut = false
  const store = interceptStore(() => shared, (method, call, args) => cut && method !== 'close'
    ? Promise.reject(new Error('connect ETIMEDOUT 10.0.0.7:6379'))
    : call(...args), { kind: 'shared', durable: true })
  return { store, cut (value: boolean) { cut = value } }
}

interface Scenario {
  clock: TestClock
  ledger: string[]
  /** Ends the cut-off replica's run: resolves, or rejects with `error`. */
  finish: (error?: Error) => void
  cutOff: ReturnType<typeof viewOf>
  shared: Store
  tickA: (time: string) => Promise<void>
  tickB: (time: string) => Promise<void>
}

async function twoReplicas (t: Test, extra: Record<string, unknown> = {}): Promise<Scenario> {
  const shared = memoryStore()
  const clock = testClock(at('2026-05-12 16:59'))
  const ledger: string[] = []
  let finish!: (error?: Error) => void
  const report = (blocking: boolean) => defineTask({
    name: 'report',
    runAt: '17:00',
    retries: { attempts: 3, delay: '1 minute' },
    async handle (ctx) {
      ledger.push(`attempt ${ctx.attempt} of ${ctx.scheduledFor.toISOString().slice(11, 16)}`)
      if (blocking) await new Promise<void>((resolve, reject) => { finish = error => error === undefined ? resolve() : reject(error) })
    }
  })
  const other = defineTask({ name: 'other', runEveryMinute: true, handle () {} })
  const cutOff = viewOf(shared)
  const a = await buildApp({ store: cutOff.store, clock, tasks: [report(true), other], ...extra })
  const b = await buildApp({ store: shared, clock, tasks: [report(false), other], ...extra })
  t.teardown(async () => { await a.close(); await b.close() })
  const tickOf = (app: typeof a) => async (time: string) => {
    clock.set(at(time))
    await (await app.scheduler.tick()).settled
  }
  return { clock, ledger, finish: error => finish(error), cutOff, shared, tickA: tickOf(a), tickB: tickOf(b) }
}

t.test('a run that succeeds while its replica is cut off longer than leaseTime runs once: the late success cancels the retry', async t => {
  const s = await twoReplicas(t)
  const aTick = s.tickA('2026-05-12 17:00') // A starts the 17:00 run, which blocks
  await new Promise(resolve => setImmediate(resolve))
  s.cutOff.cut(true)
  s.finish() // … and succeeds while A cannot reach the store
  await aTick
  t.same(s.ledger, ['attempt 1 of 17:00'])

  await s.tickB('2026-05-12 17:05') // B reaps the run whose lease expired, and arms attempt 2
  const reaped = (await s.shared.listRuns({ task: ['report'] })).runs[0]
  t.equal(reaped?.status, 'abandoned', 'B marked it abandoned')
  const [retry] = (await s.shared.heartbeat()).retries
  t.same(retry?.at, at('2026-05-12 17:10'), 'the retry waits lateResultGrace (5 × leaseTime), not just its 1-minute delay')

  s.cutOff.cut(false)
  await s.tickA('2026-05-12 17:07') // A is back: its waiting record is written before it claims anything
  t.equal((await s.shared.listRuns({ task: ['report'] })).runs[0]?.status, 'succeeded', 'the late success replaced the mark')
  t.same((await s.shared.heartbeat()).retries, [], 'and cancelled the retry')
  await s.tickB('2026-05-12 17:10')
  await s.tickA('2026-05-12 17:11')
  t.same(s.ledger, ['attempt 1 of 17:00'], 'the task ran once')
  t.match(reportLedger(t, 'a success lands after its run was reaped (memory store, two replicas)', ['17:00'], s.ledger.map(line => line.slice(-5))), { lost: 0, duplicated: 0 })
})

t.test('a late failure after another replica\'s retry succeeded does not run that retry again', async t => {
  const s = await twoReplicas(t)
  const aTick = s.tickA('2026-05-12 17:00')
  await new Promise(resolve => setImmediate(resolve))
  s.cutOff.cut(true)
  s.finish(new Error('partner API down'))
  await aTick

  await s.tickB('2026-05-12 17:05') // reaped, attempt 2 armed for 17:10
  await s.tickB('2026-05-12 17:10') // attempt 2 runs on B and succeeds
  t.same(s.ledger, ['attempt 1 of 17:00', 'attempt 2 of 17:00'])
  s.cutOff.cut(false)
  await s.tickA('2026-05-12 17:12') // attempt 1's failure lands now, asking for attempt 2
  t.same((await s.shared.heartbeat()).retries, [], 'the late failure armed nothing: attempt 2 already ran')
  await s.tickB('2026-05-12 17:13')
  await s.tickA('2026-05-12 17:14')
  t.same(s.ledger, ['attempt 1 of 17:00', 'attempt 2 of 17:00'], 'attempt 2 ran once')
  t.match(reportLedger(t, 'a failure lands after the retry succeeded elsewhere (memory store, two replicas)', ['attempt 1 of 17:00', 'attempt 2 of 17:00'], s.ledger), { lost: 0, duplicated: 0 })
  const statuses = (await s.shared.listRuns({ task: ['report'] })).runs.map(run => `a${run.attempt} ${run.status}`).sort()
  t.same(statuses, ['a1 failed', 'a2 succeeded'], 'the history tells what happened')
})

t.test('lateResultGrace is the knob: with none, a replica cut off past the lease runs the occurrence twice (at least once)', async t => {
  const s = await twoReplicas(t, { lateResultGrace: 0 })
  const aTick = s.tickA('2026-05-12 17:00')
  await new Promise(resolve => setImmediate(resolve))
  s.cutOff.cut(true)
  s.finish()
  await aTick
  await s.tickB('2026-05-12 17:05')
  await s.tickB('2026-05-12 17:06')
  s.cutOff.cut(false)
  await s.tickA('2026-05-12 17:07')
  t.same(s.ledger, ['attempt 1 of 17:00', 'attempt 2 of 17:00'], 'the documented at-least-once case')
})

t.test('final records wait for the store as long as the process lives, bounded, oldest dropped first', async t => {
  const inner = memoryStore()
  let down = true
  const store = interceptStore(() => inner, (method, call, args) => down && method === 'finishRun' ? Promise.reject(new Error('down')) : call(...args))
  const errors: string[] = []
  const log = { error: (_obj: object, msg: string) => errors.push(msg), info () {} } as unknown as Parameters<FinalRecords['write']>[2]
  const finals = new FinalRecords(store, 3)
  t.teardown(() => finals.close())
  for (let i = 0; i < 4; i++) t.equal(await finals.write(sampleRun(`r${i}`, 'report', i), { historyLimit: 10 }, log), false, `r${i} kept`)
  t.equal(finals.size, 3, 'at most the limit waits')
  t.match(errors.at(-1), /gave up recording the end of the run: more than 3 final records waited/, 'the dropped one is logged')
  for (let i = 0; i < 20; i++) await finals.flush()
  t.equal(finals.size, 3, 'twenty failed flushes later (past any fixed number of tries), still waiting')
  down = false
  await finals.flush()
  t.equal(finals.size, 0, 'written once the store answers')
  t.same((await inner.listRuns({})).runs.map(run => run.id).sort(), ['r1', 'r2', 'r3'], 'the three kept, in the store')
})
