/**
 * The one suite every store must pass (SPEC §5). Each subtest gets a fresh, isolated store
 * from `makeStore` (a new file, key prefix or schema), initialises it twice (init is
 * idempotent) and closes it twice at the end (so is close). Lease time is moved through
 * `nowMs`; nothing sleeps.
 */
import type { Test } from 'tap'
import type { RunRecord, RunStatus, Store } from '../../plugin/stores/store.js'

export const T0 = Date.UTC(2025, 4, 11, 17, 0)
const MINUTE = 60_000

/** A run record with sensible defaults; `at` is minutes after T0. */
export function run (id: string, task: string, at: number, status: RunStatus = 'succeeded', extra: Partial<RunRecord> = {}): RunRecord {
  const startedAt = new Date(T0 + at * MINUTE)
  const record: RunRecord = { id, task, scheduledFor: startedAt, trigger: 'http', startedAt, status, ...extra }
  if (status !== 'running' && extra.finishedAt === undefined) {
    record.finishedAt = new Date(startedAt.getTime() + 1500)
    record.durationMs = 1500
  }
  return record
}

/** Fire `n` claims of one occurrence at once, spread over `stores`; returns how many won. */
export async function claimRace (stores: readonly Store[], task: string, occurrence: Date, n = 100): Promise<number> {
  const results = await Promise.all(Array.from({ length: n }, (_, i) => stores[i % stores.length]!.claimOccurrence(task, occurrence)))
  return results.filter(Boolean).length
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
  const calls: Array<[string, () => Promise<unknown>]> = [
    ['ensureTasks', () => store.ensureTasks(['report'], new Date(T0))],
    ['claimOccurrence', () => store.claimOccurrence('report', new Date(T0 + MINUTE))],
    ['acquireLease', () => store.acquireLease('task:report', 'run-1', MINUTE, T0)],
    ['renewLease', () => store.renewLease('task:report', 'run-1', MINUTE, T0)],
    ['releaseLease', () => store.releaseLease('task:report', 'run-1')],
    ['reapExpiredLeases', () => store.reapExpiredLeases(T0)],
    ['recordRun', () => store.recordRun(run('r', 'report', 0, 'running'), 10)],
    ['markAbandoned', () => store.markAbandoned('r', new Date(T0))],
    ['listRuns', () => store.listRuns({})],
    ['lastRuns', () => store.lastRuns(['report'])]
  ]
  const expected = message === undefined ? { code: 'FST_SCHEDULER_STORE_UNAVAILABLE' } : { code: 'FST_SCHEDULER_STORE_UNAVAILABLE', message }
  for (const [name, call] of calls) {
    const started = performance.now()
    await t.rejects(call(), expected, `${name} rejects with the coded error`)
    t.ok(performance.now() - started < 5000, `${name} fails fast`)
  }
}

function ids (runs: readonly RunRecord[]): string[] {
  return runs.map((r) => r.id)
}

export function storeConformance (
  t: Test,
  name: string,
  makeStore: () => Promise<Store>,
  cleanup?: () => Promise<void>
): void {
  if (cleanup !== undefined) t.teardown(cleanup)

  /** A fresh, initialised store that this subtest closes at its end. */
  async function fresh (t: Test): Promise<Store> {
    const store = await makeStore()
    await store.init()
    await store.init()
    t.teardown(() => store.close())
    return store
  }

  t.test(`${name}: task state`, async (t) => {
    const store = await fresh(t)
    const may11 = new Date(T0)
    const may12 = new Date(T0 + 24 * 60 * MINUTE)

    t.same(await store.ensureTasks([], may11), new Map(), 'no names, empty map')

    const first = await store.ensureTasks(['report', 'cleanup'], may11)
    t.same([...first.keys()].sort(), ['cleanup', 'report'])
    t.same(first.get('report'), { firstSeen: may11 }, 'new task: firstSeen given, no lastOccurrence')
    t.notOk('lastOccurrence' in first.get('report')!, 'lastOccurrence absent, not null')

    const again = await store.ensureTasks(['report', 'digest'], may12)
    t.same(again.get('report'), { firstSeen: may11 }, 'firstSeen is set once and kept')
    t.same(again.get('digest'), { firstSeen: may12 })
    t.ok(again.get('report')!.firstSeen instanceof Date, 'dates come back as Date')
  })

  t.test(`${name}: claims`, async (t) => {
    const store = await fresh(t)
    await store.ensureTasks(['report'], new Date(T0))
    const at1700 = new Date(T0)
    const at1701 = new Date(T0 + MINUTE)

    t.equal(await claimRace([store], 'report', at1701, 100), 1, '100 concurrent claims of one occurrence: exactly one wins')
    t.equal(await store.claimOccurrence('report', at1701), false, 'the same occurrence again is refused')
    t.equal(await store.claimOccurrence('report', at1700), false, 'an older occurrence after a newer one is refused')
    t.same((await store.ensureTasks(['report'], new Date(0))).get('report'),
      { firstSeen: new Date(T0), lastOccurrence: at1701 }, 'lastOccurrence is the claimed occurrence')

    const at1702 = new Date(T0 + 2 * MINUTE)
    t.equal(await store.claimOccurrence('report', at1702), true, 'a newer occurrence is claimed')
    t.same((await store.ensureTasks(['report'], new Date(0))).get('report')!.lastOccurrence, at1702)

    await store.ensureTasks(['other'], new Date(T0))
    t.equal(await store.claimOccurrence('other', at1700), true, 'claims are per task')
  })

  t.test(`${name}: leases`, async (t) => {
    const store = await fresh(t)
    const ttl = 60_000

    t.same(await store.acquireLease('task:report', 'run-a', ttl, T0), { acquired: true }, 'a free lease is taken')
    t.same(await store.acquireLease('task:report', 'run-b', ttl, T0 + ttl - 1), { acquired: false }, 'held until it expires')
    t.same(await store.acquireLease('task:report', 'run-a', ttl, T0 + 1), { acquired: false }, 'not re-entrant')
    t.equal(await store.renewLease('task:report', 'run-b', ttl, T0 + 10), false, 'only the owner renews')
    t.equal(await store.renewLease('task:report', 'run-a', ttl, T0 + 30_000), true, 'the owner renews')
    t.same(await store.acquireLease('task:report', 'run-b', ttl, T0 + ttl + 1), { acquired: false }, 'renewal moved the expiry')
    t.equal(await store.releaseLease('task:report', 'run-b'), false, 'only the owner releases')
    t.equal(await store.releaseLease('task:report', 'run-a'), true, 'the owner releases')
    t.equal(await store.releaseLease('task:report', 'run-a'), false, 'released once')
    t.same(await store.acquireLease('task:report', 'run-b', ttl, T0 + 31_000), { acquired: true }, 'free again after release, no expired owner')

    const expiry = T0 + 31_000 + ttl
    t.equal(await store.renewLease('task:report', 'run-b', ttl, expiry), false, 'an expired lease (expiresAt <= now) cannot be renewed')
    t.same(await store.acquireLease('task:report', 'run-c', ttl, expiry), { acquired: true, expiredOwner: 'run-b' },
      'taking over an expired lease names the previous owner')
    t.equal(await store.releaseLease('task:report', 'run-b'), false, 'the previous owner can no longer release it')
    t.equal(await store.renewLease('task:report', 'run-c', ttl, expiry + 1), true)
    t.same(await store.acquireLease('task:other', 'run-a', ttl, T0), { acquired: true }, 'leases are per key')
  })

  t.test(`${name}: concurrent lease acquires`, async (t) => {
    const store = await fresh(t)
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.acquireLease('task:report', `run-${i}`, 60_000, T0)))
    t.equal(results.filter((r) => r.acquired).length, 1, 'exactly one of 50 concurrent acquires wins')

    await store.acquireLease('task:shared', 'old', 1000, T0)
    const takeovers = await Promise.all(Array.from({ length: 50 }, (_, i) => store.acquireLease('task:shared', `run-${i}`, 60_000, T0 + 5000)))
    const winners = takeovers.filter((r) => r.acquired)
    t.equal(winners.length, 1, 'exactly one of 50 concurrent takeovers of an expired lease wins')
    t.equal(winners[0]?.expiredOwner, 'old', 'and it alone learns the expired owner')
  })

  t.test(`${name}: reaping expired leases`, async (t) => {
    const store = await fresh(t)
    await store.acquireLease('a', 'owner-a', 100, T0)
    await store.acquireLease('b', 'owner-b', 200, T0)
    await store.acquireLease('c', 'owner-c', 300, T0)

    t.same(await store.reapExpiredLeases(T0 + 99), [], 'nothing expired yet')
    const reaped = await store.reapExpiredLeases(T0 + 200)
    t.same(reaped.sort((x, y) => x.key.localeCompare(y.key)), [{ key: 'a', owner: 'owner-a' }, { key: 'b', owner: 'owner-b' }],
      'leases with expiresAt <= now are removed and returned')
    t.same(await store.reapExpiredLeases(T0 + 200), [], 'each is returned once')
    t.same(await store.acquireLease('c', 'owner-x', 100, T0 + 250), { acquired: false }, 'live leases are untouched')
    t.same(await store.acquireLease('a', 'owner-x', 100, T0 + 250), { acquired: true }, 'a reaped lease is free, no expired owner')

    for (let i = 0; i < 40; i++) await store.acquireLease(`many-${i}`, `owner-${i}`, 1000, T0)
    const reapers = await Promise.all(Array.from({ length: 10 }, () => store.reapExpiredLeases(T0 + 1000)))
    const keys = reapers.flat().map((l) => l.key).filter((k) => k.startsWith('many-'))
    t.equal(keys.length, 40, '10 concurrent reapers return 40 expired leases in all')
    t.equal(new Set(keys).size, 40, 'none of them twice')
  })

  t.test(`${name}: recording runs`, async (t) => {
    const store = await fresh(t)
    await store.recordRun(run('r1', 'report', 0, 'running'), 100)
    let { runs } = await store.listRuns({})
    t.same(ids(runs), ['r1'])
    t.equal(runs[0]!.status, 'running')
    t.notOk('finishedAt' in runs[0]! || 'durationMs' in runs[0]! || 'error' in runs[0]! || 'stack' in runs[0]!,
      'unset optional fields are absent, not null')

    const failed = run('r1', 'report', 0, 'failed', { error: 'boom', stack: 'Error: boom\n    at handle' })
    await store.recordRun(failed, 100)
    ;({ runs } = await store.listRuns({}))
    t.same(runs, [failed], 'recordRun replaces by id: running -> failed, every field round-trips')
    t.ok(runs[0]!.startedAt instanceof Date && runs[0]!.finishedAt instanceof Date, 'dates come back as Date')
  })

  t.test(`${name}: history is pruned per task, running rows survive`, async (t) => {
    const store = await fresh(t)
    await store.recordRun(run('old-running', 'report', 0, 'running'), 3)
    for (let i = 1; i <= 6; i++) await store.recordRun(run(`done-${i}`, 'report', i), 3)
    await store.recordRun(run('other-1', 'cleanup', 0), 3)

    t.same(ids((await store.listRuns({ task: ['report'] })).runs), ['done-6', 'done-5', 'done-4', 'old-running'],
      'newest 3 kept, plus the running row')
    t.same(ids((await store.listRuns({ task: ['cleanup'] })).runs), ['other-1'], 'other tasks untouched')

    await store.recordRun(run('old-running', 'report', 0, 'succeeded'), 3)
    t.same(ids((await store.listRuns({ task: ['report'] })).runs), ['done-6', 'done-5', 'done-4'],
      'once finished, it is pruned like any other')
  })

  t.test(`${name}: markAbandoned`, async (t) => {
    const store = await fresh(t)
    await store.recordRun(run('running', 'report', 0, 'running'), 100)
    await store.recordRun(run('done', 'report', 1), 100)
    const finishedAt = new Date(T0 + 10 * MINUTE)

    t.equal(await store.markAbandoned('running', finishedAt), true, 'a running row is flipped')
    t.equal(await store.markAbandoned('running', finishedAt), false, 'only once')
    t.equal(await store.markAbandoned('done', finishedAt), false, 'a finished row is left alone')
    t.equal(await store.markAbandoned('missing', finishedAt), false, 'an unknown id changes nothing')

    const { runs } = await store.listRuns({})
    const abandoned = runs.find((r) => r.id === 'running')!
    t.equal(abandoned.status, 'abandoned')
    t.same(abandoned.finishedAt, finishedAt)
    t.same(runs.find((r) => r.id === 'done'), run('done', 'report', 1))
  })

  t.test(`${name}: listing runs`, async (t) => {
    const store = await fresh(t)
    const statuses: RunStatus[] = ['succeeded', 'failed', 'skipped']
    for (let i = 0; i < 12; i++) {
      await store.recordRun(run(`a-${String(i).padStart(2, '0')}`, i % 2 === 0 ? 'even' : 'odd', i, statuses[i % 3]), 100)
    }
    // Same startedAt: ties are broken by id, descending.
    await store.recordRun(run('tie-1', 'tie', 20), 100)
    await store.recordRun(run('tie-2', 'tie', 20), 100)

    const all = await store.listRuns({})
    t.equal(all.total, 14)
    t.same(ids(all.runs).slice(0, 4), ['tie-2', 'tie-1', 'a-11', 'a-10'], 'newest first, then id descending')

    const page = await store.listRuns({ limit: 3, offset: 2 })
    t.same(ids(page.runs), ['a-11', 'a-10', 'a-09'], 'limit and offset')
    t.equal(page.total, 14, 'total ignores paging')
    t.same(await store.listRuns({ offset: 100 }), { runs: [], total: 14 }, 'past the end: no rows, same total')

    const odd = await store.listRuns({ task: ['odd'] })
    t.same(ids(odd.runs), ['a-11', 'a-09', 'a-07', 'a-05', 'a-03', 'a-01'])
    t.equal(odd.total, 6)

    const failedOrSkipped = await store.listRuns({ status: ['failed', 'skipped'] })
    t.same(ids(failedOrSkipped.runs), ['a-11', 'a-10', 'a-08', 'a-07', 'a-05', 'a-04', 'a-02', 'a-01'])

    const both = await store.listRuns({ task: ['even', 'tie'], status: ['succeeded'], limit: 2 })
    t.same(ids(both.runs), ['tie-2', 'tie-1'])
    t.equal(both.total, 4, 'tie-1, tie-2, a-06, a-00')

    t.same(await store.listRuns({ task: [] }), { runs: [], total: 0 }, 'an empty task filter matches nothing')
    t.same(await store.listRuns({ task: ['nope'] }), { runs: [], total: 0 })
  })

  t.test(`${name}: default page size is 50`, async (t) => {
    const store = await fresh(t)
    for (let i = 0; i < 55; i++) await store.recordRun(run(`r-${String(i).padStart(2, '0')}`, `task-${i % 5}`, i), 100)
    const { runs, total } = await store.listRuns({})
    t.equal(runs.length, 50)
    t.equal(total, 55)
    t.equal(runs[0]!.id, 'r-54')
  })

  t.test(`${name}: lastRuns`, async (t) => {
    const store = await fresh(t)
    await store.recordRun(run('report-1', 'report', 1), 100)
    await store.recordRun(run('report-2', 'report', 2, 'running'), 100)
    await store.recordRun(run('cleanup-1', 'cleanup', 5, 'failed', { error: 'disk full' }), 100)
    await store.recordRun(run('digest-1', 'digest', 9), 100)

    const last = await store.lastRuns(['report', 'cleanup', 'never'])
    t.same([...last.keys()].sort(), ['cleanup', 'report'], 'tasks without runs are absent; unnamed tasks not included')
    t.same(last.get('report'), run('report-2', 'report', 2, 'running'))
    t.same(last.get('cleanup'), run('cleanup-1', 'cleanup', 5, 'failed', { error: 'disk full' }))
    t.same(await store.lastRuns([]), new Map())
  })

  t.test(`${name}: close`, async (t) => {
    const before = activeResources()
    const store = await makeStore()
    await store.init()
    await store.ensureTasks(['report'], new Date(T0))
    await store.close()
    await store.close()
    t.same(activeResources(), before, 'close leaves no handle open, and is idempotent')
  })
}
