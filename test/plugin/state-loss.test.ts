/**
 * State loss noticed in the middle of a minute (docs/ARCHITECTURE.md#a-store-that-goes-back-in-time):
 * one replica claimed and ran the minute's occurrences in a SQLite file that is deleted right
 * after; the other replica, ticking the same minute a moment later, finds a new empty file.
 * Nothing in the new file says the minute ran, so no replica may run it there: the minute
 * that noticed the loss is lost, never run twice, and the next minute runs once.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { sqliteStore } from '../../plugin/stores/sqlite/index.js'
import { defineTask } from '../../tasks/task.js'
import { at, buildApp, testClock } from '../helpers/app.js'

async function replica (t: Test, path: string, clock: () => number, ledger: string[], name: string): Promise<FastifyInstance> {
  const app = await buildApp({
    store: sqliteStore({ path }),
    clock,
    tasks: ['a', 'b', 'c'].map((task) => defineTask({
      name: task,
      runEveryMinute: true,
      handle (ctx) { ledger.push(`${task}@${ctx.scheduledFor.toISOString()} by ${name}`) }
    }))
  })
  t.teardown(() => app.close())
  return app
}

function deleteFile (path: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true })
}

t.test('a file deleted right after one replica ran a minute: the other replica does not run that minute again in the new file', async (t) => {
  const path = join(t.testdir(), 'app.sqlite')
  const clock = testClock(at('2026-01-05 09:00'))
  const ledger: string[] = []
  const first = await replica(t, path, clock, ledger, 'first')
  const second = await replica(t, path, clock, ledger, 'second')
  const minutes = ['2026-01-05 09:00', '2026-01-05 09:01', '2026-01-05 09:02'].map(at)

  for (const app of [first, second]) await (await app.scheduler.tick(minutes[0])).settled
  clock.set(minutes[1]!)
  await (await first.scheduler.tick(minutes[1])).settled
  deleteFile(path)
  clock.set(minutes[1]!.getTime() + 10_000)
  const before = ledger.length
  for (let attempt = 0; attempt < 2; attempt++) {
    const late = await second.scheduler.tick(new Date(minutes[1]!.getTime() + 10_000)).catch(() => undefined)
    await late?.settled
  }
  t.equal(ledger.length, before, 'the replica that found the new file runs nothing for the minute it noticed the loss in')

  clock.set(minutes[2]!)
  for (const app of [second, first]) {
    // The first replica finds the new file at this tick (stale or a smaller fence): it may
    // answer 503 once while it rebases; a retried tick is what a trigger would send.
    for (let attempt = 0; attempt < 2; attempt++) {
      const result = await app.scheduler.tick(minutes[2]).catch(() => undefined)
      await result?.settled
      if (result !== undefined && result.unavailable.length === 0) break
    }
  }

  const ran = ledger.map((line) => line.split(' by ')[0]!)
  t.same(ran.filter((key, i) => ran.indexOf(key) !== i), [], `no occurrence ran twice (${ledger.join(', ')})`)
  for (const task of ['a', 'b', 'c']) {
    t.ok(ran.includes(`${task}@${minutes[0]!.toISOString()}`), `${task} ran at 09:00`)
    t.ok(ran.includes(`${task}@${minutes[1]!.toISOString()}`), `${task} ran at 09:01 (before the deletion)`)
    t.ok(ran.includes(`${task}@${minutes[2]!.toISOString()}`), `${task} runs at 09:02, the minute after the loss`)
  }
  t.equal(ledger.length, 9, 'nine runs: three minutes of three tasks, each once')
})
