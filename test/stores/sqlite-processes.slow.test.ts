/**
 * The SQLite store with other processes on the same file (slow: each test starts child
 * processes): three processes claiming at once, and another process holding the write lock
 * while the store waits without blocking the event loop (its own synchronous time measured,
 * never wall-clock drift: see sqlite-fixtures.ts).
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { sqliteStore } from '../../plugin/stores/sqlite/index.js'
import type { RunRecord, StartRunResult, Store } from '../../plugin/stores/store.js'
import { T0, run } from './conformance.js'
import { untrackedEnv } from '../helpers/child-env.js'
import { assertNeverBlocked, holdWriteLock, resetWindow, statsOf, tempFiles, watchLines } from './sqlite-fixtures.js'

const MINUTE = 60_000
const { newFile } = tempFiles(t)

/** Start `record` as a scheduled run of its occurrence, leasing its task name at its start. */
function start (store: Store, record: RunRecord, nowMs = record.startedAt.getTime()): Promise<StartRunResult> {
  return store.startRun({ run: record, claim: 'occurrence', lease: { key: record.task, ttlMs: MINUTE, nowMs }, historyLimit: 100 })
}

/**
 * A child process: opens the file, waits for "go" on stdin, then starts one occurrence of
 * each of `OCCURRENCES` tasks (lease: the task) and one forced run per shared lease key,
 * and prints what it won with the fencing tokens it got.
 */
const STARTER = `
const { sqliteStore } = await import(process.env.STORE_MODULE)
const store = sqliteStore({ path: process.env.STORE_PATH })
await store.init()
const count = Number(process.env.OCCURRENCES)
const t0 = Number(process.env.T0)
const tasks = Array.from({ length: count }, (_, i) => 'task-' + i)
await store.ensureTasks(tasks, new Date(t0))
const start = (id, task, claim, key) => store.startRun({
  run: { id, task, scheduledFor: new Date(t0), trigger: 'cli', startedAt: new Date(t0), status: 'running', attempt: 1, forced: claim === 'none' },
  claim, lease: { key, ttlMs: 60000, nowMs: t0 }, historyLimit: 1000
})
process.stdout.write('ready\\n')
process.stdin.once('data', async () => {
  const claims = []
  const leases = []
  const tokens = []
  for (let i = 0; i < count; i++) {
    const claimed = await start(process.pid + '-' + i, tasks[i], 'occurrence', tasks[i])
    if (claimed.outcome === 'started') { claims.push(i); tokens.push(claimed.leaseToken) }
    const forced = await start(process.pid + '-forced-' + i, 'forced-' + i, 'none', 'shared-' + i)
    if (forced.outcome === 'started') { leases.push(i); tokens.push(forced.leaseToken) }
  }
  await store.close()
  process.stdout.write(JSON.stringify({ claims, leases, tokens }) + '\\n')
  process.stdin.destroy()
})
`

interface StarterResult { claims: number[], leases: number[], tokens: number[] }

function startStarter (t: Test, path: string, occurrences: number): { ready: Promise<void>, go: () => void, result: Promise<StarterResult> } {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', STARTER], {
    env: untrackedEnv({
      STORE_MODULE: fileURLToPath(new URL('../../plugin/stores/sqlite/index.ts', import.meta.url)),
      STORE_PATH: path,
      OCCURRENCES: String(occurrences),
      T0: String(T0)
    }),
    stdio: ['pipe', 'pipe', 'inherit']
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const { lines, waitFor, exited } = watchLines(child)
  const result = exited.then((code) => {
    if (code !== 0 || lines.length < 2) throw new Error(`starter exited with ${code}: ${lines.join('\n')}`)
    return JSON.parse(lines[1]!) as StarterResult
  })
  return { ready: waitFor('ready'), go: () => child.stdin.write('go\n'), result }
}

t.test('three processes on one file: each occurrence and each lease is won exactly once', async (t) => {
  const path = newFile()
  const occurrences = 200
  const starters = [startStarter(t, path, occurrences), startStarter(t, path, occurrences), startStarter(t, path, occurrences)]
  await Promise.all(starters.map((c) => c.ready))
  for (const c of starters) c.go()
  const results = await Promise.all(starters.map((c) => c.result))

  const claims = results.flatMap((r) => r.claims).sort((a, b) => a - b)
  const leases = results.flatMap((r) => r.leases).sort((a, b) => a - b)
  const tokens = results.flatMap((r) => r.tokens)
  const everyOne = Array.from({ length: occurrences }, (_, i) => i)
  t.same(claims, everyOne, 'every occurrence is started by exactly one process')
  t.same(leases, everyOne, 'every shared lease is taken by exactly one process (the others: overlap)')
  t.equal(new Set(tokens).size, 2 * occurrences, 'every lease taken got its own fencing token')
  t.comment(`wins per process: ${results.map((r) => r.claims.length).join(', ')}`)
})

/** A store on a new file knowing task `report`, and another process then holding that file's write lock `holdMs`. */
async function lockedStore (t: Test, holdMs: number, busyTimeout?: number | string): Promise<{ store: Store, holder: { committed: Promise<void> } }> {
  const path = newFile()
  const store = sqliteStore(busyTimeout === undefined ? { path } : { path, busyTimeout })
  await store.init()
  t.teardown(() => store.close())
  await store.ensureTasks(['report'], new Date(T0))
  return { store, holder: await holdWriteLock(t, path, holdMs) }
}

/** Whether `promise` has settled yet, as a live flag. */
function settledFlag (promise: Promise<unknown>): { readonly settled: boolean } {
  const flag = { settled: false }
  promise.then(() => { flag.settled = true }, () => { flag.settled = true })
  return flag
}

/** `assertNeverBlocked`, after checking the store did meet the other process's lock. */
function assertWaitedWithoutBlocking (t: Test, store: Store): void {
  const stats = statsOf(store)
  t.ok(stats.lockMisses > 0, `the store met the other process's lock (${stats.lockMisses} times)`)
  assertNeverBlocked(t, store)
}

t.test('another process holds the write lock 1.5 s: the event loop keeps running, startRun succeeds after the commit', async (t) => {
  const { store, holder } = await lockedStore(t, 1500)
  resetWindow(store)
  const began = performance.now()
  const pending = start(store, run('a', 'report', 1, 'running'))
  const started = settledFlag(pending)
  const read = await store.listRuns({})
  const readBeforeStart = !started.settled
  const result = await pending
  const waitedMs = performance.now() - began
  await holder.committed

  t.equal(read.total, 0, 'reads are not blocked by the lock (WAL)')
  t.ok(readBeforeStart, 'a read answered while the start still waited for the lock')
  t.equal(result.outcome, 'started', 'startRun succeeds once the other process commits')
  t.ok(waitedMs > 1000, `it waited for the lock (${Math.round(waitedMs)} ms)`)
  assertWaitedWithoutBlocking(t, store)
  t.comment(`lock held 1500 ms: startRun waited ${Math.round(waitedMs)} ms, longest synchronous section ${statsOf(store).longestSyncCpuMs.toFixed(2)} ms of CPU`)
})

t.test('the lock held past busyTimeout: the call fails with the coded error, the loop never blocks, nothing is written', async (t) => {
  const { store, holder } = await lockedStore(t, 3000, '500 ms')
  const committed = settledFlag(holder.committed)
  resetWindow(store)
  const began = performance.now()
  const failure = await start(store, run('a', 'report', 1, 'running')).then(() => undefined, (err: unknown) => err)
  const failedMs = performance.now() - began
  t.match(failure, { code: 'FST_SCHEDULER_STORE_UNAVAILABLE', message: /database file .* is locked by another process \(still locked after 500 ms\)/ })
  t.ok(failedMs >= 450, `it waited busyTimeout (${Math.round(failedMs)} ms)`)
  t.notOk(committed.settled, 'and gave up on its own, while the lock was still held')
  assertWaitedWithoutBlocking(t, store)

  await holder.committed
  t.same((await store.ensureTasks(['report'], new Date(0))).get('report'), { firstSeen: new Date(T0) }, 'the failed start claimed nothing')
  t.equal((await store.listRuns({})).total, 0, 'and wrote no record')
  t.equal((await start(store, run('b', 'report', 1, 'running'))).outcome, 'started', 'the occurrence is still owed and starts now')
})

t.test('init waits for another process\'s write lock without blocking the event loop', async (t) => {
  const path = newFile()
  const first = sqliteStore({ path })
  await first.init()
  await first.close()
  const holder = await holdWriteLock(t, path, 800)
  const store = sqliteStore({ path })
  t.teardown(() => store.close())
  const began = performance.now()
  await store.init()
  const waitedMs = performance.now() - began
  await holder.committed
  t.ok(waitedMs > 500, `init waited for the lock (${Math.round(waitedMs)} ms)`)
  assertWaitedWithoutBlocking(t, store)
})
