/**
 * The shipped conformance suite (`plugin/stores/conformance.ts`, published as
 * `fastify-scheduler/testing`) as tap subtests, plus helpers the store tests share.
 */
import type { Test } from 'tap'
import { sampleRun, storeConformanceCases, T0 } from '../../plugin/stores/conformance.js'
import type { RunRecord, Store } from '../../plugin/stores/store.js'

export { T0, sampleRun as run }
const MINUTE = 60_000

/** Every case of the suite as a tap subtest named `<name>: <case>`. */
export function storeConformance (t: Test, name: string, makeStore: () => Promise<Store>, cleanup?: () => Promise<void>): void {
  if (cleanup !== undefined) t.teardown(cleanup)
  for (const c of storeConformanceCases(makeStore)) {
    t.test(`${name}: ${c.name}`, async (t) => {
      await c.run()
      t.pass(c.name)
    })
  }
  t.test(`${name}: close leaves no handle open`, async (t) => {
    const before = activeResources()
    const store = await makeStore()
    await store.init()
    await store.ensureTasks(['report'], new Date(T0))
    await store.close()
    await store.close()
    t.same(activeResources(), before, 'close leaves no handle open, and is idempotent')
  })
}

/**
 * Fire `n` starts of one occurrence at once, spread over `stores` (each must know the task);
 * returns how many started (or were skipped for overlap, which also spends the occurrence).
 */
export async function claimRace (stores: readonly Store[], task: string, occurrence: Date, n = 100): Promise<number> {
  const results = await Promise.all(Array.from({ length: n }, (_, i) => stores[i % stores.length]!.startRun({
    run: { ...sampleRun(`race-${i}-${occurrence.getTime()}`, task, 0, 'running'), scheduledFor: occurrence, startedAt: occurrence },
    claim: 'occurrence',
    lease: { key: `race:${task}:${occurrence.getTime()}`, ttlMs: MINUTE, nowMs: occurrence.getTime() },
    historyLimit: 1000
  })))
  return results.filter((r) => r.outcome === 'started' || r.outcome === 'overlap').length
}

/** Handles and requests of this process, as counts by type, ignoring timers. */
export function activeResources (): Map<string, number> {
  const counts = new Map<string, number>()
  for (const type of process.getActiveResourcesInfo()) {
    if (type === 'Timeout' || type === 'Immediate') continue
    counts.set(type, (counts.get(type) ?? 0) + 1)
  }
  return counts
}

/**
 * Every store call, each expected to reject within 5 s with the coded error (and, when given,
 * a message matching `message`): what a tick meets while the store is down.
 */
export async function expectEveryCallUnavailable (t: Test, store: Store, message?: RegExp): Promise<void> {
  const running: RunRecord = sampleRun('r', 'report', 0, 'running')
  const calls: Array<[string, () => Promise<unknown>]> = [
    ['ensureTasks', () => store.ensureTasks(['report'], new Date(T0))],
    ['startRun', () => store.startRun({ run: running, claim: 'occurrence', lease: { key: 'report', ttlMs: MINUTE, nowMs: T0 }, historyLimit: 10 })],
    ['renewLease', () => store.renewLease('report', 'r', MINUTE, T0)],
    ['releaseLease', () => store.releaseLease('report', 'r')],
    ['finishRun', () => store.finishRun(sampleRun('r', 'report', 0), { leaseKey: 'report', historyLimit: 10 })],
    ['abandonExpired', () => store.abandonExpired(T0, 'x')],
    ['retryAbandoned', () => store.retryAbandoned(sampleRun('r', 'report', 0, 'abandoned'), { of: new Date(T0), attempt: 2, at: new Date(T0) })],
    ['heartbeat', () => store.heartbeat({ at: new Date(T0), instance: 'x:1' })],
    ['rebase', () => store.rebase(['report'], new Date(T0), 1)],
    ...(store.time === undefined ? [] : [['time', () => store.time!()] as [string, () => Promise<unknown>]]),
    ['listRuns', () => store.listRuns({})],
    ['recentRuns', () => store.recentRuns(['report'], 5)]
  ]
  const expected = message === undefined ? { code: 'FST_SCHEDULER_STORE_UNAVAILABLE' } : { code: 'FST_SCHEDULER_STORE_UNAVAILABLE', message }
  for (const [name, call] of calls) {
    const started = performance.now()
    await t.rejects(call(), expected, `${name} rejects with the coded error`)
    t.ok(performance.now() - started < 5000, `${name} fails fast`)
  }
}
