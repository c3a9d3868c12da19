/**
 * The PostgreSQL store against a throwaway cluster this file starts with initdb (slow: each
 * test boots its own server). The shared server on 5432 is never terminated, frozen or stopped.
 */
import pg from 'pg'
import { setTimeout as delay } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { postgresStore } from '../../plugin/stores/postgres/index.js'
import { needs } from '../helpers/services.js'
import { startThrowawayPostgres, whyNoThrowawayPostgres, type ThrowawayPostgres } from '../helpers/throwaway-postgres.js'
import { start } from '../../plugin/stores/conformance.js'
import type { Store } from '../../plugin/stores/store.js'
import { eventually } from '../helpers/outage.js'
import { T0, expectEveryCallUnavailable, run } from './conformance.js'

/**
 * Fault tests against a throwaway cluster the test starts (and removes, even on failure):
 * the shared server on 5432 is never terminated, frozen or stopped.
 */
const throwaway = needs(whyNoThrowawayPostgres())
const UNAVAILABLE = 'FST_SCHEDULER_STORE_UNAVAILABLE'

async function throwawayCluster (t: Test): Promise<ThrowawayPostgres> {
  const cluster = await startThrowawayPostgres()
  t.teardown(() => cluster.destroy())
  return cluster
}

/** Record every unhandled rejection and uncaught exception while the test runs (a crash, had nobody listened). */
function watchForCrashes (t: Test): unknown[] {
  const crashes: unknown[] = []
  const record = (kind: string) => (err: unknown) => { crashes.push(`${kind}: ${(err as Error).stack}`) }
  const rejection = record('unhandledRejection')
  const exception = record('uncaughtException')
  process.on('unhandledRejection', rejection)
  process.on('uncaughtException', exception)
  t.teardown(() => {
    process.removeListener('unhandledRejection', rejection)
    process.removeListener('uncaughtException', exception)
  })
  return crashes
}

/** A throwaway cluster, a crash watch and an initialised store on the cluster (timeout 2 s). */
async function faultSetup (t: Test): Promise<{ cluster: ThrowawayPostgres, crashes: unknown[], store: Store }> {
  const cluster = await throwawayCluster(t)
  const crashes = watchForCrashes(t)
  const store = postgresStore({ connectionString: cluster.connectionString, timeout: 2000 })
  t.teardown(() => store.close())
  await store.init()
  return { cluster, crashes, store }
}

/** Settle `call`, returning how it ended and how long it took. */
async function timed (call: () => Promise<unknown>): Promise<{ ok: boolean, code?: string | undefined, ms: number, error?: unknown }> {
  const started = performance.now()
  try {
    await call()
    return { ok: true, ms: performance.now() - started }
  } catch (error) {
    return { ok: false, code: (error as { code?: string }).code, ms: performance.now() - started, error }
  }
}

t.test('backends terminated at random moments during 200 startRun/finishRun pairs: no crash, coded errors, never two records', throwaway, async (t) => {
  const { cluster, crashes, store } = await faultSetup(t)
  // One task per occurrence: a startRun that failed without committing leaves its occurrence claimable.
  const tasks = Array.from({ length: 200 }, (_, i) => `task-${String(i).padStart(3, '0')}`)
  await store.ensureTasks(tasks, new Date(T0))
  const occurrence = T0 + 60_000

  const killer = new pg.Client({ connectionString: cluster.connectionString })
  killer.on('error', () => {})
  await killer.connect()
  t.teardown(() => killer.end())
  let killing = true
  let terminated = 0
  const kills = (async () => {
    // eslint-disable-next-line no-unmodified-loop-condition -- set false by the test once the pairs are done
    while (killing) {
      await delay(2 + Math.random() * 15)
      const { rows } = await killer.query(`SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
        WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'`)
      terminated += rows[0].n as number
    }
  })()

  const calls = { ok: 0, coded: 0, other: [] as unknown[] }
  const settle = async (call: () => Promise<unknown>): Promise<unknown> => {
    const result = await timed(call)
    if (result.ok) calls.ok++
    else if (result.code === UNAVAILABLE) calls.coded++
    else calls.other.push(result.error)
    return result
  }
  let next = 0
  const worker = async () => {
    while (next < tasks.length) {
      const task = tasks[next++]!
      const id = `run-${task}`
      let outcome: string | undefined
      await settle(async () => { outcome = (await start(store, run(id, task, 1, 'running'), 'occurrence', occurrence)).outcome })
      if (outcome === 'started') await settle(() => store.finishRun(run(id, task, 1, 'succeeded'), { leaseKey: task, historyLimit: 10 }))
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker))
  killing = false
  await kills

  t.same(crashes, [], 'no unhandled rejection, no uncaught exception')
  t.same(calls.other, [], 'every failed call rejected with the coded error')
  t.ok(terminated > 0, `backends terminated: ${terminated}`)
  t.ok(calls.coded > 0, `calls that met a terminated backend: ${calls.coded} coded errors, ${calls.ok} succeeded`)

  // Every occurrence: either exactly one record and claimed, or no record and still claimable.
  // (`eventually`: a backend terminated by the last kill may still sit idle in the pool
  // until its goodbye arrives; the first call on it gets the coded error.)
  const { runs } = await eventually(() => store.listRuns({ limit: 1000 }), 5000)
  const records = new Map<string, number>()
  for (const r of runs) records.set(r.task, (records.get(r.task) ?? 0) + 1)
  let recorded = 0
  let claimable = 0
  for (const task of tasks) {
    const count = records.get(task) ?? 0
    const again = await eventually(() => start(store, run(`check-${task}`, task, 1, 'running'), 'occurrence', occurrence + 10 * 60_000), 5000)
    if (count === 0 && again.outcome === 'started') claimable++
    else if (count === 1 && again.outcome === 'claimed') recorded++
    else t.fail(`${task}: ${count} records, a second claim is ${again.outcome}`)
  }
  t.equal(recorded + claimable, tasks.length, `${recorded} occurrences with exactly one record, ${claimable} with none and still claimable`)
  t.comment(`terminate storm: ${terminated} backends terminated, ${calls.ok} calls succeeded, ${calls.coded} coded errors, ` +
    `${recorded} recorded once, ${claimable} still claimable, 0 crashes`)
})

t.test('a frozen server (SIGSTOP on every process): calls reject with the coded error within timeout + 1 s, then recover', throwaway, async (t) => {
  const cluster = await throwawayCluster(t)
  const crashes = watchForCrashes(t)
  const timeout = 1000
  const own = postgresStore({ connectionString: cluster.connectionString, timeout })
  t.teardown(() => own.close())
  // A pool the user passes in: no connect or query timeout of its own, so the store's deadline is all there is.
  const userPool = new pg.Pool({ connectionString: cluster.connectionString })
  userPool.on('error', () => {})
  t.teardown(() => userPool.end())
  const passed = postgresStore({ pool: userPool, timeout, schema: 'passed' })

  for (const [name, store] of [['own pool', own], ['user pool', passed]] as const) {
    await store.init()
    await store.ensureTasks(['report', 'other'], new Date(T0))
    await store.listRuns({}) // a pooled, idle connection

    const frozen = cluster.freeze()
    t.ok(frozen.length > 1, `${name}: froze the postmaster and ${frozen.length - 1} children`)
    const results = await Promise.all([
      timed(() => start(store, run(`r-${name}`, 'report', 1, 'running'))),
      timed(() => store.heartbeat({ at: new Date(T0), instance: 'h:1' })),
      timed(() => store.listRuns({}))
    ])
    cluster.thaw()
    for (const [i, call] of ['startRun', 'heartbeat', 'listRuns'].entries()) {
      t.equal(results[i]!.code, UNAVAILABLE, `${name}: ${call} rejects with the coded error`)
      t.ok(results[i]!.ms < timeout + 1000, `${name}: ${call} within timeout + 1 s (${Math.round(results[i]!.ms)} ms)`)
    }
    t.comment(`${name} frozen: ${results.map((r) => Math.round(r.ms)).join(', ')} ms (startRun, heartbeat, listRuns; timeout ${timeout} ms)`)

    // Another task: the frozen startRun may still commit once thawed (its answer lost), holding 'report'.
    t.equal((await start(store, run(`after-${name}`, 'other', 2, 'running'))).outcome, 'started', `${name}: after SIGCONT the next startRun succeeds`)
    t.ok((await store.heartbeat({ at: new Date(T0 + 60_000), instance: 'h:1' })).lastTick, `${name}: so does heartbeat`)
    t.ok((await store.listRuns({ task: ['report'] })).total <= 1, `${name}: and listRuns; the frozen startRun wrote at most its one record`)
  }
  t.same(crashes, [], 'no unhandled rejection, no uncaught exception')
})

t.test('a stopped cluster: every call fails fast; started again, the same store recovers', throwaway, async (t) => {
  const { cluster, crashes, store } = await faultSetup(t)
  await store.ensureTasks(['report'], new Date(T0))
  t.equal((await start(store, run('before', 'report', 0, 'running'))).outcome, 'started')

  cluster.stop()
  const started = performance.now()
  await expectEveryCallUnavailable(t, store)
  const down = performance.now() - started

  cluster.start()
  const back = await timed(() => store.ensureTasks(['report'], new Date(0)))
  t.ok(back.ok, `the first call after the restart succeeds (${Math.round(back.ms)} ms)`)
  t.same((await store.ensureTasks(['report'], new Date(0))).get('report'), { firstSeen: new Date(T0), lastOccurrence: new Date(T0) }, 'state intact')
  await store.finishRun(run('before', 'report', 0), { leaseKey: 'report', historyLimit: 10 })
  t.equal((await start(store, run('after', 'report', 1, 'running'))).outcome, 'started', 'the same store claims again')
  t.same(crashes, [], 'no unhandled rejection, no uncaught exception')
  t.comment(`cluster stopped: 10 calls rejected in ${Math.round(down)} ms in all; first call after restart ${Math.round(back.ms)} ms`)
})
