/**
 * Another process holds the SQLite write lock while forced ticks keep arriving: the writes
 * of every tick wait together behind the store's one lock timer, and an unrelated route
 * keeps answering (docs/ARCHITECTURE.md#the-fault-model). Asserted on what the store
 * measures of itself — the CPU time of its longest synchronous section, its busy timeout,
 * its lock timers — never on wall-clock latency, which a starved CPU inflates.
 */
import Fastify from 'fastify'
import t from 'tap'
import fastifyScheduler from '../../plugin.js'
import { sqliteStore } from '../../plugin/stores/sqlite/index.js'
import { defineTask } from '../../tasks/task.js'
import type { TickResult } from '../../plugin/types.js'
import { assertNeverBlocked, holdWriteLock, resetWindow, statsOf, tempFiles } from './sqlite-fixtures.js'

const TASKS = 5
const TICK_EVERY_MS = 300
const HOLD_MS = 3000

t.test('another process holds the write lock while forced ticks arrive every 300 ms: one waiter, the loop never blocks, an unrelated route answers', async (t) => {
  const { newFile } = tempFiles(t)
  const path = newFile()
  const store = sqliteStore({ path })
  let ran = 0
  const app = Fastify({ logger: false })
  app.get('/ping', async () => ({ ok: true }))
  await app.register(fastifyScheduler, {
    dir: false,
    routes: false,
    timezone: 'UTC',
    store,
    tasks: Array.from({ length: TASKS }, (_, i) => defineTask({ name: `task-${i}`, runEveryMinute: true, handle () { ran++ } }))
  })
  await app.ready()
  t.teardown(() => app.close())
  await (await app.scheduler.tick({ force: true, trigger: 'api' })).settled // the store open, the tasks known
  const ranBefore = ran

  const holder = await holdWriteLock(t, path, HOLD_MS)
  const lock = { held: true }
  void holder.committed.then(() => { lock.held = false })
  const stats = statsOf(store)
  resetWindow(store)
  stats.peakTimers = 0
  stats.largestBatch = 0
  const missesBefore = stats.lockMisses

  // Forced ticks every 300 ms, and the unrelated route asked between them, until the lock is released.
  const ticks: Array<Promise<TickResult>> = []
  let pingsWhileLocked = 0
  let failedPings = 0
  const ticking = setInterval(() => { ticks.push(app.scheduler.tick({ force: true, trigger: 'api' })) }, TICK_EVERY_MS)
  while (lock.held) {
    const answer = await app.inject({ method: 'GET', url: '/ping' })
    if (answer.statusCode !== 200) failedPings++
    else if (lock.held) pingsWhileLocked++
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  clearInterval(ticking)
  const results = await Promise.allSettled(ticks)
  const outcomes = (await Promise.all(results.flatMap((r) => r.status === 'fulfilled' ? [r.value.settled] : []))).flat()

  t.ok(ticks.length >= 5, `${ticks.length} forced ticks arrived while the lock was held`)
  t.ok(stats.lockMisses > missesBefore, `their writes met the lock (${stats.lockMisses - missesBefore} tries)`)
  t.equal(stats.peakTimers, 1, 'all of them waited behind one timer')
  // The writes queued behind the lock commit together once it is free (a tick that arrived
  // after that, before the interval was cleared, commits on its own: hence not all of them).
  t.ok(stats.largestBatch >= 2 * TASKS, `and committed together: ${stats.largestBatch} calls of ${ticks.length} ticks in one transaction`)
  assertNeverBlocked(t, store)
  t.equal(failedPings, 0, 'the unrelated route always answered')
  t.ok(pingsWhileLocked >= 10, `it answered ${pingsWhileLocked} times while the lock was held`)
  t.equal(results.filter((r) => r.status === 'rejected').length, 0, 'no tick failed: the lock came free within busyTimeout')
  t.ok(outcomes.length > 0 && ran - ranBefore === outcomes.filter((o) => o.status !== 'skipped').length,
    `the forced runs started once the lock came free (${ran - ranBefore} ran, ${outcomes.length} outcomes)`)
  t.comment(`lock held ${HOLD_MS} ms: ${ticks.length} ticks, ${pingsWhileLocked} pings answered meanwhile, ` +
    `${stats.lockMisses - missesBefore} lock tries, peak ${stats.peakTimers} timer, largest batch ${stats.largestBatch}, longest synchronous section ${stats.longestSyncCpuMs.toFixed(2)} ms of CPU, ${stats.longestSyncMs.toFixed(2)} ms of wall time`)
})
