/**
 * The conformance suite every store must pass, shipped as
 * `fastify-scheduler/testing` so that a third-party store can prove itself with any test
 * runner: each case is a plain async function that throws (node:assert) on a violation.
 *
 * @example
 * // with node:test
 * import { test } from 'node:test'
 * import { storeConformanceCases } from 'fastify-scheduler/testing'
 * for (const c of storeConformanceCases(() => myStore({ prefix: randomUUID() }))) test(c.name, c.run)
 *
 * Each case gets a fresh store from `makeStore` (give it a new file, key prefix or schema),
 * initialises it twice (init is idempotent) and closes it twice at the end (so is close).
 * Lease time is moved through `nowMs`; nothing sleeps.
 */
import assert from 'node:assert/strict'
import { BUFFERED_REASON } from './history.js'
import type { RunRecord, RunStatus, StartClaim, StartRunResult, Store } from './store.js'

/** 2025-05-11T17:00Z, the instant the cases count minutes from. */
export const T0 = Date.UTC(2025, 4, 11, 17, 0)
const MINUTE = 60_000
const TTL = 5 * MINUTE

/** A run record with sensible defaults; `at` is minutes after T0. */
export function sampleRun (id: string, task: string, at: number, status: RunStatus = 'succeeded', extra: Partial<RunRecord> = {}): RunRecord {
  const startedAt = new Date(T0 + at * MINUTE)
  const record: RunRecord = { id, task, scheduledFor: startedAt, trigger: 'http', startedAt, status, attempt: 1, forced: false, ...extra }
  if (status !== 'running' && extra.finishedAt === undefined) {
    record.finishedAt = new Date(startedAt.getTime() + 1500)
    record.durationMs = 1500
  }
  return record
}

/** Start `run` claiming `claim`, with the lease `key` (default: the task name) at `nowMs` (default: its startedAt). */
export function start (store: Store, run: RunRecord, claim: StartClaim = 'occurrence', nowMs = run.startedAt.getTime(), key = run.task): Promise<StartRunResult> {
  return store.startRun({ run, claim, lease: { key, ttlMs: TTL, nowMs }, historyLimit: 100 })
}

/** Write a finished record directly (what seeds history in the cases below). */
export function finished (store: Store, run: RunRecord, historyLimit = 100): Promise<void> {
  return store.finishRun(run, { historyLimit })
}

function ids (runs: readonly RunRecord[]): string[] {
  return runs.map((r) => r.id)
}

async function statusOf (store: Store, id: string): Promise<RunRecord | undefined> {
  return (await store.listRuns({ limit: 500 })).runs.find((r) => r.id === id)
}

/** One case of the suite: `run` rejects on a violation. */
export interface ConformanceCase {
  name: string
  run: () => Promise<void>
}

/** The suite's cases for stores made by `makeStore`. */
export function storeConformanceCases (makeStore: () => Store | Promise<Store>): ConformanceCase[] {
  /** Run `body` with a fresh, initialised store, closed (twice) afterwards. */
  const withStore = (body: (store: Store) => Promise<void>) => async () => {
    const store = await makeStore()
    await store.init()
    await store.init()
    try {
      await body(store)
    } finally {
      await store.close()
      await store.close()
    }
  }
  const c = (name: string, body: (store: Store) => Promise<void>): ConformanceCase => ({ name, run: withStore(body) })

  return [
    c('the store says what it is', async (store) => {
      assert.equal(typeof store.kind, 'string')
      assert.ok(store.kind.length > 0, 'kind is a non-empty string')
      assert.equal(typeof store.durable, 'boolean')
    }),

    c('time(): when the store has its own clock, it reads it', async (store) => {
      if (store.time === undefined) return
      const before = Date.now()
      const storeNow = await store.time()
      assert.ok(Number.isInteger(storeNow), 'whole milliseconds')
      // The test runs beside the server: the two clocks agree within a generous bound.
      assert.ok(Math.abs(storeNow - before) < 60_000, `the store's clock (${new Date(storeNow).toISOString()}) is the epoch in ms`)
    }),

    c('task state: firstSeen is set once', async (store) => {
      const may11 = new Date(T0)
      const may12 = new Date(T0 + 24 * 60 * MINUTE)
      assert.deepEqual(await store.ensureTasks([], may11), new Map(), 'no names, empty map')
      const first = await store.ensureTasks(['report', 'cleanup'], may11)
      assert.deepEqual([...first.keys()].sort(), ['cleanup', 'report'])
      assert.deepEqual(first.get('report'), { firstSeen: may11 }, 'new task: firstSeen given, no lastOccurrence, no retry')
      const again = await store.ensureTasks(['report', 'digest'], may12)
      assert.deepEqual(again.get('report'), { firstSeen: may11 }, 'firstSeen is kept')
      assert.deepEqual(again.get('digest'), { firstSeen: may12 })
      assert.ok(again.get('report')!.firstSeen instanceof Date, 'dates come back as Date')
    }),

    c('startRun: one atomic claim + lease + running record', async (store) => {
      await store.ensureTasks(['report'], new Date(T0))
      const run = sampleRun('run-1', 'report', 1, 'running', { instance: 'host:1' })
      const result = await start(store, run)
      assert.equal(result.outcome, 'started')
      assert.ok(result.outcome === 'started' && result.leaseToken > 0, 'a positive fencing token')
      assert.deepEqual((await store.listRuns({})).runs, [run], 'the running record, every field round-tripped')
      assert.deepEqual((await store.ensureTasks(['report'], new Date(0))).get('report'),
        { firstSeen: new Date(T0), lastOccurrence: run.scheduledFor }, 'lastOccurrence moved')
      assert.equal(await store.releaseLease('report', 'run-1'), true, 'the lease is held by the run id')
    }),

    c('startRun: of 50 concurrent starts of one occurrence exactly one wins', async (store) => {
      await store.ensureTasks(['report'], new Date(T0))
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => start(store, sampleRun(`run-${i}`, 'report', 1, 'running'))))
      assert.equal(results.filter((r) => r.outcome === 'started').length, 1, 'one started')
      assert.equal(results.filter((r) => r.outcome === 'claimed').length, 49, 'the others found it claimed')
      assert.equal((await store.listRuns({})).total, 1, 'one record')
    }),

    c('startRun: claimed occurrences are refused and write nothing', async (store) => {
      await store.ensureTasks(['report'], new Date(T0))
      assert.equal((await start(store, sampleRun('a', 'report', 2, 'running'))).outcome, 'started')
      await store.finishRun(sampleRun('a', 'report', 2), { leaseKey: 'report', historyLimit: 100 })
      assert.deepEqual(await start(store, sampleRun('b', 'report', 2, 'running')), { outcome: 'claimed' }, 'the same occurrence again')
      assert.deepEqual(await start(store, sampleRun('c', 'report', 1, 'running')), { outcome: 'claimed' }, 'an older occurrence')
      assert.deepEqual(ids((await store.listRuns({})).runs), ['a'], 'nothing written for refused claims')
      assert.equal((await start(store, sampleRun('d', 'report', 3, 'running'))).outcome, 'started', 'a newer one starts')
    }),

    c('startRun: a missing task row or an occurrence before firstSeen is stale', async (store) => {
      assert.deepEqual(await start(store, sampleRun('a', 'never-seen', 1, 'running')), { outcome: 'stale' }, 'state lost: stale')
      await store.ensureTasks(['report'], new Date(T0 + 10 * MINUTE))
      assert.deepEqual(await start(store, sampleRun('b', 'report', 5, 'running')), { outcome: 'stale' }, 'before firstSeen: stale')
      assert.deepEqual(await store.listRuns({}), { runs: [], total: 0 }, 'nothing written')
      assert.equal(await store.releaseLease('report', 'b'), false, 'no lease taken')
      assert.equal(await store.releaseLease('never-seen', 'a'), false)
      assert.deepEqual((await store.ensureTasks(['report'], new Date(0))).get('report'),
        { firstSeen: new Date(T0 + 10 * MINUTE) }, 'no occurrence claimed')
      assert.equal((await start(store, sampleRun('c', 'report', 10, 'running'))).outcome, 'started', 'at firstSeen: owed')
    }),

    c('startRun: a held lease spends the occurrence on a skipped record', async (store) => {
      await store.ensureTasks(['report'], new Date(T0))
      assert.equal((await start(store, sampleRun('long', 'report', 1, 'running'))).outcome, 'started')
      const next = sampleRun('next', 'report', 2, 'running', { trigger: 'cli' })
      assert.deepEqual(await start(store, next), { outcome: 'overlap', holder: 'long' })
      const skipped = await statusOf(store, 'next')
      assert.deepEqual(skipped, { ...next, status: 'skipped', error: 'overlap', finishedAt: next.startedAt, durationMs: 0 },
        'skipped, ended as it started, reason overlap')
      assert.deepEqual(await start(store, sampleRun('again', 'report', 2, 'running')), { outcome: 'claimed' }, 'the occurrence is spent')
      assert.equal((await statusOf(store, 'long'))?.status, 'running', 'the holder is untouched')
    }),

    c('startRun: an expired lease is taken over and its run abandoned in the same step', async (store) => {
      await store.ensureTasks(['report'], new Date(T0))
      const first = await start(store, sampleRun('crashed', 'report', 1, 'running'))
      const later = T0 + MINUTE + TTL
      const second = await start(store, sampleRun('fresh', 'report', 2, 'running'), 'occurrence', later)
      assert.equal(second.outcome, 'started')
      assert.ok(first.outcome === 'started' && second.outcome === 'started' && second.leaseToken > first.leaseToken,
        'the fencing token grows with each holder')
      assert.ok(second.outcome === 'started' && second.abandoned === 'crashed', 'names the abandoned run')
      const crashed = await statusOf(store, 'crashed')
      assert.equal(crashed?.status, 'abandoned')
      assert.deepEqual(crashed?.finishedAt, new Date(later))
      assert.equal(await store.renewLease('report', 'crashed', TTL, later + 1), false, 'the old owner lost it')
      assert.equal(await store.renewLease('report', 'fresh', TTL, later + 1), true)
    }),

    c('startRun: forced runs claim nothing and still respect the lease', async (store) => {
      await store.ensureTasks(['report'], new Date(T0))
      const forced = sampleRun('forced-1', 'report', 5, 'running', { forced: true, trigger: 'api' })
      assert.equal((await start(store, forced, 'none')).outcome, 'started')
      assert.deepEqual((await store.ensureTasks(['report'], new Date(0))).get('report'), { firstSeen: new Date(T0) }, 'lastOccurrence untouched')
      const second = sampleRun('forced-2', 'report', 5, 'running', { forced: true })
      assert.deepEqual(await start(store, second, 'none'), { outcome: 'overlap', holder: 'forced-1' })
      assert.equal((await statusOf(store, 'forced-2'))?.status, 'skipped')
      assert.equal((await start(store, sampleRun('forced-3', 'unknown-task', 5, 'running', { forced: true }), 'none')).outcome, 'started',
        'a forced run needs no task state')
      assert.equal((await start(store, sampleRun('s', 'report', 5, 'running'))).outcome, 'overlap', 'a scheduled run meets the forced run\'s lease')
    }),

    c('overlap: bufferOne buffers one occurrence behind a held lease; it starts once, when the lease is free', async (store) => {
      await store.ensureTasks(['report'], new Date(T0))
      const buffer = (run: RunRecord, nowMs = run.startedAt.getTime()) =>
        store.startRun({ run, claim: 'occurrence', lease: { key: 'report', ttlMs: TTL, nowMs }, historyLimit: 100, overlap: 'bufferOne' })
      assert.equal((await start(store, sampleRun('long', 'report', 1, 'running'))).outcome, 'started')
      const b1 = sampleRun('b1', 'report', 2, 'running')
      assert.deepEqual(await buffer(b1), { outcome: 'buffered', holder: 'long' })
      assert.deepEqual(await statusOf(store, 'b1'), { ...b1, status: 'skipped', error: BUFFERED_REASON, finishedAt: b1.startedAt, durationMs: 0 },
        'a skipped record says it was buffered')
      assert.deepEqual((await store.heartbeat()).buffered, [{ task: 'report', of: new Date(T0 + 2 * MINUTE) }], 'the cluster state lists it')
      assert.deepEqual(await buffer(sampleRun('b2', 'report', 3, 'running')), { outcome: 'overlap', holder: 'long' }, 'one buffered run at most')
      assert.equal((await statusOf(store, 'b2'))?.error, 'overlap')
      assert.equal(await store.renewLease('report', 'long', TTL, T0 + 3 * MINUTE), true, 'bufferOne does not supersede the holder')

      const claimBuffer = (id: string, atMin: number, of = 2) =>
        start(store, sampleRun(id, 'report', atMin, 'running', { scheduledFor: new Date(T0 + of * MINUTE) }), 'buffer')
      assert.deepEqual(await claimBuffer('early', 4), { outcome: 'busy', holder: 'long' }, 'busy while the holder runs')
      assert.equal(await statusOf(store, 'early'), undefined, 'busy writes nothing')
      assert.deepEqual(await claimBuffer('wrong', 4, 3), { outcome: 'claimed' }, 'only the buffered occurrence')
      assert.deepEqual((await store.heartbeat()).buffered, [{ task: 'report', of: new Date(T0 + 2 * MINUTE) }], 'still buffered')

      await store.finishRun(sampleRun('long', 'report', 1, 'succeeded'), { leaseKey: 'report', historyLimit: 100 })
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => claimBuffer(`r-${i}`, 5)))
      const started = results.filter((r) => r.outcome === 'started')
      assert.equal(started.length, 1, 'of 20 concurrent claims of the buffered run one starts')
      assert.ok(results.every((r) => r.outcome === 'started' || r.outcome === 'claimed' || r.outcome === 'busy'))
      assert.deepEqual((await store.heartbeat()).buffered, [], 'no longer buffered')
      const running = (await store.listRuns({ task: ['report'], status: ['running'] })).runs
      assert.equal(running.length, 1)
      assert.deepEqual(running[0]!.scheduledFor, new Date(T0 + 2 * MINUTE), 'the run is of the buffered occurrence')
      assert.deepEqual(await claimBuffer('again', 6), { outcome: 'claimed' }, 'it runs once')
    }),

    c('overlap: cancelOther supersedes the holder; its run is recorded cancelled; a new holder is not superseded', async (store) => {
      await store.ensureTasks(['report'], new Date(T0))
      const cancel = (run: RunRecord, nowMs = run.startedAt.getTime()) =>
        store.startRun({ run, claim: 'occurrence', lease: { key: 'report', ttlMs: TTL, nowMs }, historyLimit: 100, overlap: 'cancelOther' })
      assert.equal((await start(store, sampleRun('long', 'report', 1, 'running'))).outcome, 'started')
      assert.deepEqual(await cancel(sampleRun('c1', 'report', 2, 'running')), { outcome: 'buffered', holder: 'long' })
      assert.equal(await store.renewLease('report', 'long', TTL, T0 + 2 * MINUTE), 'superseded', 'the holder learns it at its renewal, and keeps the lease')
      assert.equal(await store.renewLease('report', 'other', TTL, T0 + 2 * MINUTE), false)
      assert.deepEqual(await start(store, sampleRun('n0', 'report', 3, 'running', { scheduledFor: new Date(T0 + 2 * MINUTE) }), 'buffer'),
        { outcome: 'busy', holder: 'long' }, 'the new run waits until the superseded one stopped')
      await store.finishRun(sampleRun('long', 'report', 1, 'cancelled', { error: 'superseded' }), { leaseKey: 'report', historyLimit: 100 })
      const cancelled = await store.listRuns({ status: ['cancelled'] })
      assert.deepEqual(cancelled.runs.map((r) => [r.id, r.status, r.error]), [['long', 'cancelled', 'superseded']])
      assert.equal(cancelled.total, 1)
      await store.finishRun(sampleRun('long', 'report', 1, 'failed', { error: 'late' }), { historyLimit: 100 })
      assert.equal((await statusOf(store, 'long'))?.status, 'cancelled', 'cancelled is settled: never overwritten')

      const next = await start(store, sampleRun('n1', 'report', 3, 'running', { scheduledFor: new Date(T0 + 2 * MINUTE) }), 'buffer')
      assert.equal(next.outcome, 'started')
      assert.equal(await store.renewLease('report', 'n1', TTL, T0 + 3 * MINUTE), true, 'a fresh lease is not superseded')
      assert.deepEqual(await cancel(sampleRun('c2', 'report', 4, 'running')), { outcome: 'buffered', holder: 'n1' })
      assert.equal(await store.renewLease('report', 'n1', TTL, T0 + 4 * MINUTE), 'superseded')
      // n1's process dies: its expired lease is taken over, and the new holder is not superseded.
      const later = T0 + 5 * MINUTE + TTL
      const takeover = await start(store, sampleRun('late', 'report', 5, 'running'), 'occurrence', later)
      assert.ok(takeover.outcome === 'started' && takeover.abandoned === 'n1')
      assert.equal(await store.renewLease('report', 'late', TTL, later + 1), true)
    }),

    c('a forced run keeps its payload and trigger through start and finish (migration 5)', async (store) => {
      await store.ensureTasks(['report'], new Date(T0))
      const payload = JSON.stringify({ orderId: 'o-1', note: 'é "quoted" \\ ' + 'x'.repeat(200) })
      const run = sampleRun('p-1', 'report', 5, 'running', { forced: true, trigger: 'ui', payload })
      assert.equal((await start(store, run, 'none')).outcome, 'started')
      assert.deepEqual(await statusOf(store, 'p-1'), run, 'the running record keeps it')
      const finished = { ...run, status: 'succeeded' as const, finishedAt: new Date(T0 + 5 * MINUTE + 1000), durationMs: 1000 }
      await store.finishRun(finished, { leaseKey: 'report', historyLimit: 100 })
      assert.deepEqual(await statusOf(store, 'p-1'), finished, 'the final record keeps it')
      const plain = sampleRun('p-2', 'report', 6, 'running', { trigger: 'backfill' })
      await store.releaseLease('report', 'p-1')
      assert.equal((await start(store, plain)).outcome, 'started')
      assert.equal((await statusOf(store, 'p-2'))?.payload, undefined, 'no payload reads as absent')
      assert.equal((await statusOf(store, 'p-2'))?.trigger, 'backfill')
    }),

    c('startRun without a lease records a missed occurrence', async (store) => {
      await store.ensureTasks(['report'], new Date(T0))
      const missed = sampleRun('m', 'report', 1, 'missed', { error: 'late by 90 min' })
      assert.deepEqual(await store.startRun({ run: missed, claim: 'occurrence', historyLimit: 100 }), { outcome: 'recorded' })
      assert.deepEqual(await statusOf(store, 'm'), missed)
      assert.deepEqual(await store.startRun({ run: sampleRun('m2', 'report', 1, 'missed'), claim: 'occurrence', historyLimit: 100 }), { outcome: 'claimed' })
    }),

    c('retries: pending, claimed once, cleared by a newer occurrence', async (store) => {
      await store.ensureTasks(['report', 'other'], new Date(T0))
      const of = new Date(T0 + MINUTE)
      assert.equal((await start(store, sampleRun('a1', 'report', 1, 'running'))).outcome, 'started')
      const retry = { of, attempt: 2, at: new Date(T0 + 6 * MINUTE) }
      await store.finishRun(sampleRun('a1', 'report', 1, 'failed', { error: 'boom' }), { leaseKey: 'report', historyLimit: 100, retry })
      assert.deepEqual((await store.ensureTasks(['report'], new Date(0))).get('report')?.retry, retry, 'finishRun set the retry')
      assert.deepEqual((await store.heartbeat()).retries, [{ task: 'report', ...retry }], 'the cluster state lists it')

      const attempt2 = (id: string, attempt = 2) => sampleRun(id, 'report', 1, 'running', { attempt, startedAt: new Date(T0 + 6 * MINUTE) })
      assert.deepEqual(await start(store, attempt2('wrong', 3), 'retry'), { outcome: 'claimed' }, 'another attempt number is not pending')
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => start(store, attempt2(`a2-${i}`), 'retry')))
      assert.equal(results.filter((r) => r.outcome === 'started').length, 1, 'of 20 concurrent retry claims one wins')
      assert.equal((await store.ensureTasks(['report'], new Date(0))).get('report')?.retry, undefined, 'no longer pending')

      assert.equal((await start(store, sampleRun('o0', 'other', 0, 'running'))).outcome, 'started')
      await store.finishRun(sampleRun('o0', 'other', 0, 'failed'), { leaseKey: 'other', historyLimit: 100, retry: { of: new Date(T0), attempt: 2, at: new Date(T0 + MINUTE) } })
      assert.equal((await store.heartbeat()).retries.length, 1)
      assert.equal((await start(store, sampleRun('o', 'other', 3, 'running'))).outcome, 'started')
      assert.deepEqual((await store.heartbeat()).retries, [], 'claiming a newer occurrence clears the pending retry')
    }),

    c('renewLease: the owner renews, even after expiry while nobody took it', async (store) => {
      await store.ensureTasks(['report'], new Date(T0))
      await start(store, sampleRun('a', 'report', 0, 'running'))
      assert.equal(await store.renewLease('report', 'b', TTL, T0 + 10), false, 'only the owner renews')
      assert.equal(await store.renewLease('report', 'a', TTL, T0 + 30_000), true, 'the owner renews')
      assert.equal((await start(store, sampleRun('b', 'report', 1, 'running'), 'occurrence', T0 + TTL + 1)).outcome, 'overlap', 'renewal moved the expiry')
      assert.equal(await store.renewLease('report', 'a', TTL, T0 + 10 * TTL), true, 'expired but untaken: re-taken by its owner')
      assert.equal((await start(store, sampleRun('c', 'report', 2, 'running'), 'occurrence', T0 + 10 * TTL + 1)).outcome, 'overlap')
      assert.deepEqual(await store.abandonExpired(T0 + 100 * TTL, 'gone'), [{ ...sampleRun('a', 'report', 0, 'running'), status: 'abandoned', finishedAt: new Date(T0 + 100 * TTL), durationMs: 100 * TTL, error: 'gone' }])
      assert.equal(await store.renewLease('report', 'a', TTL, T0 + 100 * TTL), false, 'a reaped lease is lost')
    }),

    c('releaseLease: only the owner, once', async (store) => {
      await store.ensureTasks(['report'], new Date(T0))
      await start(store, sampleRun('a', 'report', 0, 'running'))
      assert.equal(await store.releaseLease('report', 'b'), false)
      assert.equal(await store.releaseLease('report', 'a'), true)
      assert.equal(await store.releaseLease('report', 'a'), false)
      assert.equal((await start(store, sampleRun('b', 'report', 1, 'running'))).outcome, 'started', 'free again')
    }),

    c('finishRun: final record, lease released, settled records never overwritten', async (store) => {
      await store.ensureTasks(['report'], new Date(T0))
      await start(store, sampleRun('a', 'report', 0, 'running'))
      const done = sampleRun('a', 'report', 0, 'failed', { error: 'boom', stack: 'Error: boom\n    at handle' })
      await store.finishRun(done, { leaseKey: 'report', historyLimit: 100 })
      assert.deepEqual(await statusOf(store, 'a'), done, 'every field round-trips')
      assert.equal(await store.releaseLease('report', 'a'), false, 'the lease was released')
      await store.finishRun(sampleRun('a', 'report', 0, 'succeeded'), { historyLimit: 100 })
      assert.equal((await statusOf(store, 'a'))?.status, 'failed', 'a settled record is not overwritten')

      await start(store, sampleRun('t', 'report', 1, 'running'))
      await store.finishRun(sampleRun('t', 'report', 1, 'timed_out'), { historyLimit: 100 })
      assert.equal(await store.releaseLease('report', 't'), true, 'without leaseKey the lease stays held')

      await start(store, sampleRun('late', 'report', 2, 'running'))
      await store.abandonExpired(T0 + 2 * MINUTE + TTL, 'lease expired')
      await store.finishRun(sampleRun('late', 'report', 2, 'succeeded'), { leaseKey: 'report', historyLimit: 100 })
      assert.equal((await statusOf(store, 'late'))?.status, 'succeeded', 'a finished run replaces its abandoned mark')
    }),

    c('abandonExpired: atomic, each expired run to one caller', async (store) => {
      await store.ensureTasks(['a', 'b', 'c'], new Date(T0))
      await start(store, sampleRun('run-a', 'a', 0, 'running'), 'occurrence', T0 - TTL + 100)
      await start(store, sampleRun('run-b', 'b', 0, 'running'), 'occurrence', T0 - TTL + 200)
      await start(store, sampleRun('run-c', 'c', 0, 'running'), 'occurrence', T0 - TTL + 300)
      assert.deepEqual(await store.abandonExpired(T0 + 99, 'x'), [], 'nothing expired yet')
      const reaped = await store.abandonExpired(T0 + 200, 'lease expired')
      assert.deepEqual(ids(reaped).sort(), ['run-a', 'run-b'])
      assert.ok(reaped.every((r) => r.status === 'abandoned' && r.error === 'lease expired'), 'returned as abandoned, with the reason')
      assert.deepEqual(await store.abandonExpired(T0 + 200, 'x'), [], 'each once')
      assert.equal((await statusOf(store, 'run-c'))?.status, 'running', 'live leases untouched')
      assert.equal((await start(store, sampleRun('a2', 'a', 1, 'running'))).outcome, 'started', 'a reaped lease is free')

      for (let i = 0; i < 30; i++) {
        await store.ensureTasks([`many-${i}`], new Date(T0))
        await start(store, sampleRun(`m-${i}`, `many-${i}`, 0, 'running'))
      }
      const reapers = await Promise.all(Array.from({ length: 8 }, () => store.abandonExpired(T0 + 2 * TTL, 'r')))
      const many = reapers.flat().map((r) => r.id).filter((id) => id.startsWith('m-'))
      assert.equal(many.length, 30, '8 concurrent reapers return 30 abandoned runs in all')
      assert.equal(new Set(many).size, 30, 'none twice')
    }),

    c('heartbeat: the last tick only moves forward', async (store) => {
      assert.deepEqual(await store.heartbeat(), { retries: [], fence: 0, buffered: [], paused: [], backfills: [] }, 'no tick yet, no token handed out, nothing buffered, nothing paused, no backfill')
      assert.deepEqual((await store.heartbeat({ at: new Date(T0 + MINUTE), instance: 'a:1' })).lastTick, new Date(T0 + MINUTE))
      assert.deepEqual((await store.heartbeat({ at: new Date(T0), instance: 'b:2' })).lastTick, new Date(T0 + MINUTE), 'an older tick does not move it back')
      assert.deepEqual((await store.heartbeat()).lastTick, new Date(T0 + MINUTE), 'read without writing')
    }),

    c('history is pruned per task, running rows survive', async (store) => {
      await store.ensureTasks(['report'], new Date(T0))
      await start(store, sampleRun('old-running', 'report', 0, 'running'))
      for (let i = 1; i <= 6; i++) await finished(store, sampleRun(`done-${i}`, 'report', i), 3)
      await finished(store, sampleRun('other-1', 'cleanup', 0), 3)
      assert.deepEqual(ids((await store.listRuns({ task: ['report'] })).runs), ['done-6', 'done-5', 'done-4', 'old-running'], 'newest 3, plus the running row')
      assert.deepEqual(ids((await store.listRuns({ task: ['cleanup'] })).runs), ['other-1'], 'other tasks untouched')
      await store.finishRun(sampleRun('old-running', 'report', 0), { leaseKey: 'report', historyLimit: 3 })
      assert.deepEqual(ids((await store.listRuns({ task: ['report'] })).runs), ['done-6', 'done-5', 'done-4'], 'once finished, pruned like any other')
      await store.startRun({ run: sampleRun('skip', 'report', 9, 'running'), claim: 'none', lease: { key: 'other-key', ttlMs: TTL, nowMs: T0 }, historyLimit: 3 })
      assert.deepEqual(ids((await store.listRuns({ task: ['report'] })).runs), ['skip', 'done-6', 'done-5'], 'startRun prunes too (a running row counts, is never removed)')
    }),

    c('history is pruned around a record older than the kept window', async (store) => {
      await store.ensureTasks(['report'], new Date(T0))
      for (let i = 1; i <= 3; i++) await finished(store, sampleRun(`done-${i}`, 'report', 10 + i), 3)
      const late = await store.startRun({ run: sampleRun('late-missed', 'report', 0, 'missed'), claim: 'none', historyLimit: 3 })
      assert.equal(late.outcome, 'recorded')
      assert.deepEqual(ids((await store.listRuns({ task: ['report'] })).runs), ['done-3', 'done-2', 'done-1'],
        'a settled record that ranks past the limit is not kept, and pushes no newer record out')
      await store.startRun({ run: sampleRun('late-running', 'report', 1, 'running'), claim: 'none', historyLimit: 3 })
      assert.deepEqual(ids((await store.listRuns({ task: ['report'] })).runs), ['done-3', 'done-2', 'done-1', 'late-running'],
        'a running record is kept wherever it ranks')
      await store.startRun({ run: sampleRun('mid-missed', 'report', 12, 'missed'), claim: 'none', historyLimit: 3 })
      assert.deepEqual(ids((await store.listRuns({ task: ['report'] })).runs), ['done-3', 'mid-missed', 'done-2', 'late-running'],
        'a record ranking inside the window is kept and the oldest settled record goes')
    }),

    c('listRuns: newest first, filters, paging', async (store) => {
      const statuses: RunStatus[] = ['succeeded', 'failed', 'skipped']
      for (let i = 0; i < 12; i++) await finished(store, sampleRun(`a-${String(i).padStart(2, '0')}`, i % 2 === 0 ? 'even' : 'odd', i, statuses[i % 3]))
      await finished(store, sampleRun('tie-1', 'tie', 20))
      await finished(store, sampleRun('tie-2', 'tie', 20))
      const all = await store.listRuns({})
      assert.equal(all.total, 14)
      assert.deepEqual(ids(all.runs).slice(0, 4), ['tie-2', 'tie-1', 'a-11', 'a-10'], 'newest first, then id descending')
      const page = await store.listRuns({ limit: 3, offset: 2 })
      assert.deepEqual(ids(page.runs), ['a-11', 'a-10', 'a-09'])
      assert.equal(page.total, 14, 'total ignores paging')
      assert.deepEqual(await store.listRuns({ offset: 100 }), { runs: [], total: 14 })
      assert.deepEqual(ids((await store.listRuns({ task: ['odd'] })).runs), ['a-11', 'a-09', 'a-07', 'a-05', 'a-03', 'a-01'])
      assert.deepEqual(ids((await store.listRuns({ status: ['failed', 'skipped'] })).runs), ['a-11', 'a-10', 'a-08', 'a-07', 'a-05', 'a-04', 'a-02', 'a-01'])
      const both = await store.listRuns({ task: ['even', 'tie'], status: ['succeeded'], limit: 2 })
      assert.deepEqual(ids(both.runs), ['tie-2', 'tie-1'])
      assert.equal(both.total, 4)
      assert.deepEqual(await store.listRuns({ task: [] }), { runs: [], total: 0 }, 'an empty task filter matches nothing')
      assert.deepEqual(await store.listRuns({ status: [] }), { runs: [], total: 0 }, 'an empty status filter matches nothing')
    }),

    c('listRuns: default page size is 50', async (store) => {
      for (let i = 0; i < 55; i++) await finished(store, sampleRun(`r-${String(i).padStart(2, '0')}`, `task-${i % 5}`, i))
      const { runs, total } = await store.listRuns({})
      assert.equal(runs.length, 50)
      assert.equal(total, 55)
      assert.equal(runs[0]!.id, 'r-54')
    }),

    c('recentRuns: the newest runs of each named task', async (store) => {
      for (let i = 0; i < 5; i++) await finished(store, sampleRun(`report-${i}`, 'report', i))
      await finished(store, sampleRun('cleanup-1', 'cleanup', 5, 'failed', { error: 'disk full', attempt: 2, forced: true, instance: 'h:9' }))
      await finished(store, sampleRun('digest-1', 'digest', 9))
      const recent = await store.recentRuns(['report', 'cleanup', 'never'], 3)
      assert.deepEqual([...recent.keys()].sort(), ['cleanup', 'report'], 'tasks without runs absent; unnamed tasks not included')
      assert.deepEqual(ids(recent.get('report')!), ['report-4', 'report-3', 'report-2'])
      assert.deepEqual(recent.get('cleanup'), [sampleRun('cleanup-1', 'cleanup', 5, 'failed', { error: 'disk full', attempt: 2, forced: true, instance: 'h:9' })])
      assert.deepEqual(await store.recentRuns([], 3), new Map())
    }),

    c('late results: a late failure never re-arms a retry that already ran', async (store) => {
      await store.ensureTasks(['report'], new Date(T0))
      const of = new Date(T0 + MINUTE)
      await start(store, sampleRun('a1', 'report', 1, 'running'))
      // The run's process is cut off: its lease expires, the reaper marks it and arms attempt 2.
      const [abandoned] = await store.abandonExpired(T0 + MINUTE + TTL, 'lease expired')
      const retry2 = { of, attempt: 2, at: new Date(T0 + 20 * MINUTE) }
      assert.equal(await store.retryAbandoned(abandoned!, retry2), true, 'the reaper arms the retry of the abandoned run')
      const attempt2 = sampleRun('a2', 'report', 1, 'running', { attempt: 2, startedAt: new Date(T0 + 20 * MINUTE) })
      assert.equal((await start(store, attempt2, 'retry')).outcome, 'started', 'attempt 2 claimed')
      await store.finishRun({ ...attempt2, status: 'succeeded', finishedAt: new Date(T0 + 21 * MINUTE), durationMs: MINUTE }, { leaseKey: 'report', historyLimit: 100 })
      // Attempt 1's failure lands now, asking for attempt 2 again.
      await store.finishRun(sampleRun('a1', 'report', 1, 'failed', { error: 'boom' }), { leaseKey: 'report', historyLimit: 100, retry: retry2 })
      assert.deepEqual((await store.heartbeat()).retries, [], 'the late failure armed nothing')
      assert.deepEqual(await start(store, { ...attempt2, id: 'a2-again' }, 'retry'), { outcome: 'claimed' }, 'attempt 2 cannot be claimed again')
      assert.equal((await statusOf(store, 'a1'))?.status, 'failed', 'the late record still replaces the abandoned mark')
      assert.equal(await store.retryAbandoned(abandoned!, retry2), false, 'nor can the reaper re-arm it: the mark is gone')
    }),

    c('late results: a late success cancels the pending retry; the reaper cannot re-arm it', async (store) => {
      await store.ensureTasks(['report'], new Date(T0))
      const of = new Date(T0 + MINUTE)
      await start(store, sampleRun('a1', 'report', 1, 'running'))
      const [abandoned] = await store.abandonExpired(T0 + MINUTE + TTL, 'lease expired')
      const retry2 = { of, attempt: 2, at: new Date(T0 + 20 * MINUTE) }
      assert.equal(await store.retryAbandoned(abandoned!, retry2), true)
      await store.finishRun(sampleRun('a1', 'report', 1, 'succeeded'), { leaseKey: 'report', historyLimit: 100 })
      assert.deepEqual((await store.heartbeat()).retries, [], 'the success cancelled attempt 2 before it started')
      assert.equal((await start(store, sampleRun('a2', 'report', 1, 'running', { attempt: 2 }), 'retry')).outcome, 'claimed', 'nothing to claim')
      assert.equal((await statusOf(store, 'a1'))?.status, 'succeeded')
      assert.equal(await store.retryAbandoned(abandoned!, retry2), false, 'the record is no longer abandoned: no retry')

      // Another occurrence: the reaper comes after the late success landed.
      await start(store, sampleRun('b1', 'report', 30, 'running'))
      const [orphan] = await store.abandonExpired(T0 + 30 * MINUTE + TTL, 'lease expired')
      await store.finishRun(sampleRun('b1', 'report', 30, 'succeeded'), { leaseKey: 'report', historyLimit: 100 })
      assert.equal(await store.retryAbandoned(orphan!, { of: new Date(T0 + 30 * MINUTE), attempt: 2, at: new Date(T0 + 40 * MINUTE) }), false)
      assert.deepEqual((await store.heartbeat()).retries, [])
    }),

    c('late results: fenced to the newest attempt and the last occurrence', async (store) => {
      await store.ensureTasks(['report'], new Date(T0))
      const of = new Date(T0 + MINUTE)
      await start(store, sampleRun('a1', 'report', 1, 'running'))
      const retry2 = { of, attempt: 2, at: new Date(T0 + 5 * MINUTE) }
      await store.finishRun(sampleRun('a1', 'report', 1, 'failed'), { leaseKey: 'report', historyLimit: 100, retry: retry2 })
      assert.deepEqual((await store.heartbeat()).retries, [{ task: 'report', ...retry2 }], 'the newest attempt sets its retry')
      await store.finishRun(sampleRun('a1', 'report', 1, 'failed'), { leaseKey: 'report', historyLimit: 100, retry: retry2 })
      assert.equal((await store.heartbeat()).retries.length, 1, 'the same write again changes nothing')

      // A newer occurrence is claimed; a late result of the older one changes no retry.
      await start(store, sampleRun('n1', 'report', 10, 'running'), 'occurrence', T0 + 10 * MINUTE + TTL + 1)
      await store.finishRun(sampleRun('old', 'report', 1, 'failed', { attempt: 1 }), { historyLimit: 100, retry: retry2 })
      assert.deepEqual((await store.heartbeat()).retries, [], 'a retry of a superseded occurrence is ignored')

      // Forced runs stand outside the fence: they neither set nor cancel a retry.
      await store.finishRun(sampleRun('n1', 'report', 10, 'failed'), { leaseKey: 'report', historyLimit: 100, retry: { of: new Date(T0 + 10 * MINUTE), attempt: 2, at: new Date(T0 + 15 * MINUTE) } })
      assert.equal((await store.heartbeat()).retries.length, 1)
      await store.finishRun(sampleRun('forced', 'report', 10, 'succeeded', { forced: true }), { historyLimit: 100 })
      assert.equal((await store.heartbeat()).retries.length, 1, 'a forced run never cancels a retry')
      await store.finishRun(sampleRun('forced-f', 'report', 10, 'failed', { forced: true }), { historyLimit: 100, retry: { of: new Date(T0 + 10 * MINUTE), attempt: 9, at: new Date(T0) } })
      assert.equal((await store.heartbeat()).retries[0]?.attempt, 2, 'nor sets one')
      assert.equal(await store.retryAbandoned(sampleRun('ghost', 'nobody', 1, 'abandoned'), retry2), false, 'no task row: no retry')
    }),

    c('fence: the counter is the largest token handed out; rebase raises it and restarts the tasks', async (store) => {
      await store.ensureTasks(['report', 'cleanup'], new Date(T0))
      const first = await start(store, sampleRun('a', 'report', 1, 'running'))
      const second = await start(store, sampleRun('b', 'cleanup', 1, 'running'))
      assert.ok(first.outcome === 'started' && second.outcome === 'started')
      assert.equal((await store.heartbeat()).fence, second.leaseToken, 'the fence is the newest token')
      await store.finishRun(sampleRun('b', 'cleanup', 1, 'failed'), { leaseKey: 'cleanup', historyLimit: 100, retry: { of: new Date(T0 + MINUTE), attempt: 2, at: new Date(T0 + 2 * MINUTE) } })

      const seen = second.leaseToken + 1000
      const now = new Date(T0 + 60 * MINUTE)
      const states = await store.rebase(['report', 'cleanup', 'digest'], now, seen)
      assert.deepEqual(states.get('report'), { firstSeen: now, lastOccurrence: new Date(T0 + MINUTE) }, 'first seen now, lastOccurrence kept')
      assert.deepEqual(states.get('cleanup'), { firstSeen: now, lastOccurrence: new Date(T0 + MINUTE) }, 'its pending retry dropped')
      assert.deepEqual(states.get('digest'), { firstSeen: now }, 'a missing row is created')
      assert.deepEqual((await store.heartbeat()).retries, [])
      assert.ok((await store.heartbeat()).fence >= seen, 'the counter was raised to the token seen')
      const next = await start(store, sampleRun('c', 'report', 61, 'running'))
      assert.ok(next.outcome === 'started' && next.leaseToken > seen, 'no token is ever handed out twice')
      assert.equal((await start(store, sampleRun('d', 'digest', 30, 'running'))).outcome, 'stale', 'occurrences before the new firstSeen are not owed')
      const again = await store.rebase(['report'], now, 1)
      assert.ok((await store.heartbeat()).fence >= seen + 1, 'a smaller fence never lowers the counter')
      assert.equal(again.size, 1)
    }),

    c('claimOnce: a key is claimed once, by exactly one of concurrent callers', async (store) => {
      if (store.claimOnce === undefined) return
      const until = new Date(Date.now() + 60 * MINUTE)
      assert.equal(await store.claimOnce('jti:a', until), true, 'the first claim')
      assert.equal(await store.claimOnce('jti:a', until), false, 'the same key again')
      assert.equal(await store.claimOnce('jti:a', new Date(until.getTime() + MINUTE)), false, 'a later expiry changes nothing')
      assert.equal(await store.claimOnce('jti:b', until), true, 'another key')
      const results = await Promise.all(Array.from({ length: 20 }, () => store.claimOnce!('jti:c', until)))
      assert.equal(results.filter(Boolean).length, 1, 'one of 20 concurrent claims wins')
      const odd = 'jti:é "quoted" \'single\' ' + 'x'.repeat(300)
      assert.equal(await store.claimOnce(odd, until), true)
      assert.equal(await store.claimOnce(odd, until), false, 'long keys with any characters')
    }),

    c('pause: a paused task\'s start is answered `paused` in the same step, and nothing moves', async (store) => {
      await store.ensureTasks(['report', 'cleanup'], new Date(T0))
      const since = new Date(T0 + 2 * MINUTE)
      const pause = await store.pause({ task: 'report', since, reason: 'partner API down', by: 'ops' })
      assert.deepEqual(pause, { task: 'report', since, reason: 'partner API down', by: 'ops' }, 'the pause in force')
      const again = await store.pause({ task: 'report', since: new Date(T0 + 9 * MINUTE), reason: 'other' })
      assert.deepEqual(again, pause, 'a pause in force is kept as it is')
      const result = await start(store, sampleRun('a', 'report', 3, 'running'))
      assert.deepEqual(result, { outcome: 'paused', pause }, 'answered paused, with the pause')
      assert.deepEqual((await store.listRuns({})).runs, [], 'no record written')
      assert.deepEqual((await store.ensureTasks(['report'], new Date(0))).get('report'), { firstSeen: new Date(T0) }, 'the occurrence was not claimed')
      const missed = await store.startRun({ run: sampleRun('m', 'report', 3, 'missed'), claim: 'occurrence', historyLimit: 100 })
      assert.equal(missed.outcome, 'paused', 'a missed record is not written either')
      assert.equal((await start(store, sampleRun('b', 'cleanup', 3, 'running'))).outcome, 'started', 'another task is not paused')
      const forced = await start(store, sampleRun('f', 'report', 3, 'running', { forced: true }), 'none', undefined, 'report#f')
      assert.equal(forced.outcome, 'started', 'a forced run (claim none) is an operator\'s act: it starts')
      assert.deepEqual((await store.heartbeat()).paused, [pause], 'the cluster state lists the pause')
      assert.deepEqual(await store.resume({ task: 'report', historyLimit: 100 }), pause, 'resume returns the pause lifted')
      assert.equal(await store.resume({ task: 'report', historyLimit: 100 }), undefined, 'nothing to lift twice')
      assert.deepEqual((await store.heartbeat()).paused, [])
      assert.equal((await start(store, sampleRun('c', 'report', 3, 'running'))).outcome, 'started', 'resumed: the occurrence is owed again')
    }),

    c('pause: a pending retry is not claimed while paused', async (store) => {
      await store.ensureTasks(['report'], new Date(T0))
      await start(store, sampleRun('a', 'report', 1, 'running'))
      const retry = { of: new Date(T0 + MINUTE), attempt: 2, at: new Date(T0 + 3 * MINUTE) }
      await store.finishRun(sampleRun('a', 'report', 1, 'failed'), { leaseKey: 'report', historyLimit: 100, retry })
      await store.pause({ task: 'report', since: new Date(T0 + 2 * MINUTE) })
      const result = await start(store, sampleRun('r', 'report', 1, 'running', { attempt: 2 }), 'retry', T0 + 3 * MINUTE)
      assert.equal(result.outcome, 'paused')
      assert.deepEqual((await store.heartbeat()).retries, [{ task: 'report', ...retry }], 'the retry is still pending')
    }),

    c('pause: everything (maintenance) stops every task', async (store) => {
      await store.ensureTasks(['report', 'cleanup'], new Date(T0))
      const since = new Date(T0 + MINUTE)
      const all = await store.pause({ since, reason: 'migration' })
      assert.deepEqual(all, { task: null, since, reason: 'migration' }, 'task null: everything; by absent when not given')
      const own = await store.pause({ task: 'cleanup', since })
      assert.equal((await start(store, sampleRun('a', 'report', 2, 'running'))).outcome, 'paused')
      const both = await start(store, sampleRun('b', 'cleanup', 2, 'running'))
      assert.ok(both.outcome === 'paused' && both.pause.task === null, 'the pause of everything is named first')
      assert.deepEqual((await store.heartbeat()).paused, [all, own], 'everything first, then by task')
      assert.deepEqual(await store.resume({ historyLimit: 100 }), all)
      assert.equal((await start(store, sampleRun('c', 'report', 2, 'running'))).outcome, 'started', 'report runs again')
      assert.equal((await start(store, sampleRun('d', 'cleanup', 2, 'running'))).outcome, 'paused', 'cleanup keeps its own pause')
    }),

    c('resume without catch-up: one skipped record claims the last occurrence owed', async (store) => {
      await store.ensureTasks(['report'], new Date(T0))
      await start(store, sampleRun('a', 'report', 1, 'running'))
      const retry = { of: new Date(T0 + MINUTE), attempt: 2, at: new Date(T0 + 3 * MINUTE) }
      await store.finishRun(sampleRun('a', 'report', 1, 'failed'), { leaseKey: 'report', historyLimit: 100, retry })
      await store.pause({ task: 'report', since: new Date(T0 + 2 * MINUTE) })
      const skip = sampleRun('s', 'report', 10, 'skipped', { error: 'paused: 9 occurrences from x to y' })
      assert.equal(await store.resume({ skip: [skip], historyLimit: 100 }), undefined, 'everything was not paused: nothing lifted')
      assert.equal(await statusOf(store, 's'), undefined, 'and nothing written')
      assert.ok(await store.resume({ task: 'report', skip: [skip], historyLimit: 100 }))
      assert.deepEqual(await statusOf(store, 's'), skip, 'the skipped record, as given')
      assert.deepEqual((await store.ensureTasks(['report'], new Date(0))).get('report'),
        { firstSeen: new Date(T0), lastOccurrence: skip.scheduledFor }, 'the occurrence is claimed, the pending retry dropped')
      assert.equal((await start(store, sampleRun('b', 'report', 10, 'running'))).outcome, 'claimed', 'the skipped occurrence is not owed')
      assert.equal((await start(store, sampleRun('c', 'report', 11, 'running'))).outcome, 'started', 'the next one runs')
    }),

    c('resume with catch-up: nothing skipped, the latest occurrence is owed once', async (store) => {
      await store.ensureTasks(['report'], new Date(T0))
      await store.pause({ task: 'report', since: new Date(T0) })
      assert.ok(await store.resume({ task: 'report', skip: [], historyLimit: 100 }))
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => start(store, sampleRun(`r${i}`, 'report', 10, 'running'))))
      assert.equal(results.filter(r => r.outcome === 'started').length, 1, 'the latest occurrence runs once')
    }),

    c('pause: no start issued after pause() resolved ever starts, even among 50 concurrent ones', async (store) => {
      const names = Array.from({ length: 50 }, (_, i) => `t${i}`)
      await store.ensureTasks(names, new Date(T0))
      const before = names.map((name, i) => start(store, sampleRun(`before-${i}`, name, 1, 'running')))
      await store.pause({ since: new Date(T0 + MINUTE) })
      const after = await Promise.all(names.map((name, i) => start(store, sampleRun(`after-${i}`, name, 2, 'running'))))
      await Promise.all(before)
      assert.deepEqual(new Set(after.map(r => r.outcome)), new Set(['paused']), 'every start after the pause is refused')
      const started = (await store.listRuns({ limit: 500 })).runs.filter(r => r.id.startsWith('after-'))
      assert.deepEqual(started, [], 'none wrote a record')
    }),

    c('backfill: created once per task and range while pending; the heartbeat lists pending ones', async (store) => {
      const request = { id: 'b-1', task: 'report', from: new Date(T0), to: new Date(T0 + 9 * MINUTE), total: 10, next: new Date(T0), createdAt: new Date(T0 + 20 * MINUTE) }
      const created = await store.createBackfill(request)
      assert.deepEqual(created, { ...request, done: 0, skipped: 0 })
      const again = await store.createBackfill({ ...request, id: 'b-2', createdAt: new Date(T0 + 21 * MINUTE) })
      assert.equal(again.id, 'b-1', 'the same task and range: the pending one is answered')
      const other = await store.createBackfill({ ...request, id: 'b-3', to: new Date(T0 + 5 * MINUTE), total: 6, createdAt: new Date(T0 + 22 * MINUTE) })
      assert.equal(other.id, 'b-3', 'another range is another backfill')
      assert.deepEqual((await store.heartbeat()).backfills.map(b => b.id), ['b-1', 'b-3'], 'oldest first')
    }),

    c('backfill: the claim moves the cursor (done, skipped), never lastOccurrence; busy and paused write nothing', async (store) => {
      await store.ensureTasks(['report'], new Date(T0 + 10 * MINUTE))
      await store.createBackfill({ id: 'b', task: 'report', from: new Date(T0), to: new Date(T0 + 3 * MINUTE), total: 4, next: new Date(T0), createdAt: new Date(T0 + 20 * MINUTE) })
      // An occurrence already run on schedule (a record that is not forced) is skipped.
      await finished(store, sampleRun('scheduled', 'report', 1))
      const claim = (id: string, at: number, next: number | undefined, nowMs = T0 + 20 * MINUTE) => store.startRun({
        run: sampleRun(id, 'report', at, 'running', { trigger: 'backfill', startedAt: new Date(nowMs) }),
        claim: 'backfill',
        lease: { key: 'report', ttlMs: TTL, nowMs },
        historyLimit: 100,
        backfill: next === undefined ? { id: 'b' } : { id: 'b', next: new Date(T0 + next * MINUTE) }
      })
      assert.equal((await claim('wrong', 2, 3)).outcome, 'claimed', 'not at the cursor: nothing')
      const first = await claim('b0', 0, 1)
      assert.equal(first.outcome, 'started')
      assert.equal((await claim('b0-again', 0, 1)).outcome, 'claimed', 'the cursor moved on: claimed once')
      let [backfill] = (await store.heartbeat()).backfills
      assert.deepEqual([backfill!.next, backfill!.done, backfill!.skipped], [new Date(T0 + MINUTE), 1, 0])
      assert.equal((await claim('b1', 1, 2)).outcome, 'claimed', 'already run on schedule')
      ;[backfill] = (await store.heartbeat()).backfills
      assert.deepEqual([backfill!.next, backfill!.done, backfill!.skipped], [new Date(T0 + 2 * MINUTE), 1, 1])
      const busy = await claim('b2', 2, 3)
      assert.equal(busy.outcome, 'busy', 'the run of occurrence 0 holds the lease')
      await store.finishRun(sampleRun('b0', 'report', 0, 'succeeded', { trigger: 'backfill' }), { leaseKey: 'report', historyLimit: 100 })
      await store.pause({ task: 'report', since: new Date(T0 + 20 * MINUTE) })
      assert.equal((await claim('b2', 2, 3)).outcome, 'paused')
      await store.resume({ task: 'report', historyLimit: 100 })
      assert.equal((await claim('b2', 2, 3)).outcome, 'started')
      await store.finishRun(sampleRun('b2', 'report', 2, 'succeeded', { trigger: 'backfill' }), { leaseKey: 'report', historyLimit: 100 })
      assert.equal((await claim('b3', 3, undefined)).outcome, 'started', 'the last one')
      assert.deepEqual((await store.heartbeat()).backfills, [], 'finished: no longer pending')
      const state = (await store.ensureTasks(['report'], new Date(T0))).get('report')!
      assert.equal(state.lastOccurrence, undefined, 'a backfill never moves lastOccurrence')
      const runs = (await store.listRuns({})).runs
      assert.deepEqual(runs.filter(r => r.trigger === 'backfill').map(r => r.id).sort(), ['b0', 'b2', 'b3'], 'busy and paused wrote nothing')
    }),

    c('backfill: among 10 concurrent claims of one occurrence exactly one starts', async (store) => {
      await store.ensureTasks(['report'], new Date(T0))
      await store.createBackfill({ id: 'b', task: 'report', from: new Date(T0), to: new Date(T0 + MINUTE), total: 2, next: new Date(T0), createdAt: new Date(T0) })
      const nowMs = T0 + 20 * MINUTE
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => store.startRun({
        run: sampleRun(`c${i}`, 'report', 0, 'running', { trigger: 'backfill', startedAt: new Date(nowMs) }),
        claim: 'backfill',
        lease: { key: 'report', ttlMs: TTL, nowMs },
        historyLimit: 100,
        backfill: { id: 'b', next: new Date(T0 + MINUTE) }
      })))
      assert.equal(results.filter(r => r.outcome === 'started').length, 1)
      assert.equal(results.filter(r => r.outcome === 'claimed').length, 9)
      const [backfill] = (await store.heartbeat()).backfills
      assert.deepEqual([backfill!.next, backfill!.done, backfill!.skipped], [new Date(T0 + MINUTE), 1, 0])
    }),

    c('records: unset optional fields come back absent, long texts intact', async (store) => {
      const bare = sampleRun('bare', 'report', 0, 'running')
      await store.ensureTasks(['report'], new Date(T0))
      await start(store, bare)
      const [stored] = (await store.listRuns({})).runs
      for (const field of ['finishedAt', 'durationMs', 'error', 'stack', 'instance', 'output', 'covers'] as const) {
        assert.ok(!(field in stored!), `${field} absent, not null`)
      }
      const long = sampleRun('long', 'other', 1, 'failed', { error: 'é'.repeat(4000) + ' "quotes" \'single\' ✓', stack: 'x\n'.repeat(2000) })
      await finished(store, long)
      assert.deepEqual(await statusOf(store, 'long'), long)
    }),

    c('records: output and covers round-trip through start, finish, history and recent runs', async (store) => {
      await store.ensureTasks(['report'], new Date(T0))
      const covers = { from: new Date(T0 + 2 * MINUTE), to: new Date(T0 + 4 * MINUTE), count: 3 }
      const running = sampleRun('covering', 'report', 4, 'running', { covers })
      assert.equal((await start(store, running)).outcome, 'started')
      assert.deepEqual((await store.listRuns({})).runs, [running], 'covers written with the running record')
      const output = '2025-05-11T17:04:00.000Z INFO first line\n2025-05-11T17:04:01.000Z WARN second "line" é ✓'
      const done = { ...sampleRun('covering', 'report', 4, 'failed', { covers, error: 'boom' }), output }
      await store.finishRun(done, { leaseKey: 'report', historyLimit: 100 })
      assert.deepEqual(await statusOf(store, 'covering'), done, 'output and covers in the final record')
      assert.deepEqual((await store.recentRuns(['report'], 5)).get('report'), [done], 'and in recent runs')
      const missed = sampleRun('missed', 'report', 9, 'missed', { error: 'late', covers: { from: new Date(T0 + 5 * MINUTE), to: new Date(T0 + 9 * MINUTE), count: 5 } })
      assert.equal((await store.startRun({ run: missed, claim: 'occurrence', historyLimit: 100 })).outcome, 'recorded')
      assert.deepEqual(await statusOf(store, 'missed'), missed, 'a missed record keeps its covers')
    })
  ]
}
