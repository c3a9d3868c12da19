/**
 * The SQLite file replaced under running processes (docs/ARCHITECTURE.md#the-fault-model):
 * deleted with its -wal and -shm, or swapped for an older copy. Each store notices (device +
 * inode of its path), opens the path again, and the change reaches the scheduler as state
 * loss: missing task rows (`stale`) or a fencing counter smaller than a token already handed
 * out (`rebase`). No occurrence is claimed twice.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import t, { type Test } from 'tap'
import { SqliteConnection } from '../../plugin/stores/sqlite/connection.js'
import { sqliteStore } from '../../plugin/stores/sqlite/index.js'
import { migrate } from '../../plugin/stores/sqlite/migrations.js'
import type { StartRunResult, Store } from '../../plugin/stores/store.js'
import { untrackedEnv } from '../helpers/child-env.js'
import { reportLedger } from '../helpers/ledger.js'
import { T0, claimRace, run } from './conformance.js'
import { statsOf, tempFiles } from './sqlite-fixtures.js'

const MINUTE = 60_000
const { dir, newFile } = tempFiles(t)

/** Remove the database file and its WAL and shared-memory files, as `rm db*` would. */
function deleteFile (path: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true })
}

/** Two stores (two connections) on one new file, both knowing task `report` since T0. */
async function twoStores (t: Test): Promise<{ path: string, stores: [Store, Store] }> {
  const path = newFile()
  const stores: [Store, Store] = [sqliteStore({ path }), sqliteStore({ path })]
  for (const store of stores) {
    await store.init()
    t.teardown(() => store.close())
  }
  await stores[0].ensureTasks(['report'], new Date(T0))
  return { path, stores }
}

/**
 * Every claim made, by occurrence: what the test asserts "never twice" on. `start` is the
 * scheduler's start of the occurrence `minute` minutes after T0.
 */
function claimLedger (): { start: (store: Store, id: string, minute: number) => Promise<StartRunResult>, claims: Map<number, string[]>, tokens: number[] } {
  const claims = new Map<number, string[]>()
  const tokens: number[] = []
  return {
    claims,
    tokens,
    async start (store, id, minute) {
      const record = run(id, 'report', minute, 'running')
      const result = await store.startRun({ run: record, claim: 'occurrence', lease: { key: 'report', ttlMs: MINUTE, nowMs: record.startedAt.getTime() }, historyLimit: 100 })
      if (result.outcome === 'started') {
        claims.set(minute, [...claims.get(minute) ?? [], id])
        tokens.push(result.leaseToken)
        await store.finishRun({ ...record, status: 'succeeded', finishedAt: record.startedAt, durationMs: 0 }, { leaseKey: 'report', historyLimit: 100 })
      }
      return result
    }
  }
}

t.test('the file deleted (with -wal and -shm) under two stores: both reopen the path, the lost tasks are stale, nothing is claimed twice', async (t) => {
  const { path, stores: [first, second] } = await twoStores(t)
  const ledger = claimLedger()
  t.equal((await ledger.start(first, 'a', 1)).outcome, 'started')

  deleteFile(path)
  t.same(await ledger.start(second, 'b', 1), { outcome: 'stale' }, 'the other store notices: the task row is missing in the new file')
  t.ok(existsSync(path), 'the path was opened again, and the file created')
  // What the scheduler does on `stale`: reload the tasks, first seen now (minute 2).
  await second.ensureTasks(['report'], new Date(T0 + 2 * MINUTE))
  t.same(await ledger.start(first, 'c', 1), { outcome: 'stale' }, 'the store that claimed minute 1 cannot claim it again in the new file')
  await first.ensureTasks(['report'], new Date(T0 + 2 * MINUTE))
  t.equal(await claimRace([first, second], 'report', new Date(T0 + 2 * MINUTE), 20), 1, 'minute 2 is claimed once across both')
  t.same([statsOf(first).reopened, statsOf(second).reopened], [1, 1], 'each store reopened the path once')

  const { fence } = await first.heartbeat()
  t.equal(fence, 1, 'the new file has its own fencing counter: smaller than tokens already handed out, which the scheduler treats as state loss')
  const rebased = await second.rebase(['report'], new Date(T0 + 3 * MINUTE), Math.max(...ledger.tokens, 5))
  t.same(rebased.get('report'), { firstSeen: new Date(T0 + 3 * MINUTE), lastOccurrence: new Date(T0 + 2 * MINUTE) })
  const next = await ledger.start(first, 'd', 3)
  t.ok(next.outcome === 'started' && next.leaseToken > 5, 'after rebase the fencing counter never repeats a token')
  t.same([...ledger.claims.values()].filter((ids) => ids.length > 1), [], 'no occurrence claimed twice')
})

t.test('the file swapped for an older copy under two stores: the smaller fencing counter shows it, rebase keeps every occurrence once', async (t) => {
  const { path, stores: [first, second] } = await twoStores(t)
  const ledger = claimLedger()
  t.equal((await ledger.start(first, 'a', 1)).outcome, 'started')
  const older = join(dir, 'older-copy.sqlite')
  const snapshot = new Database(path)
  snapshot.exec(`VACUUM INTO '${older}'`) // a consistent copy, as a backup would take
  snapshot.close()
  t.equal((await ledger.start(second, 'b', 2)).outcome, 'started')
  t.equal((await ledger.start(first, 'c', 3)).outcome, 'started')
  const highest = Math.max(...ledger.tokens)

  // Restored from the backup: the copy renamed over the path, the newer WAL gone with it.
  rmSync(`${path}-wal`, { force: true })
  rmSync(`${path}-shm`, { force: true })
  renameSync(older, path)

  const { fence } = await second.heartbeat()
  t.ok(fence < highest, `the fencing counter went back (${fence} < ${highest}): the scheduler's regression check sees it`)
  t.same((await first.ensureTasks(['report'], new Date(0))).get('report')?.lastOccurrence, new Date(T0 + MINUTE),
    'the other store reads the older copy too: its last occurrence is minute 1 again')
  // The scheduler's answer to a smaller fence: rebase, first seen now (minute 4).
  await second.rebase(['report'], new Date(T0 + 4 * MINUTE), highest)
  for (const minute of [2, 3]) {
    t.same(await ledger.start(first, `again-${minute}`, minute), { outcome: 'stale' }, `minute ${minute}, already run, is not claimed again`)
  }
  t.equal(await claimRace([first, second], 'report', new Date(T0 + 4 * MINUTE), 20), 1, 'minute 4 is claimed once across both')
  const next = await ledger.start(second, 'd', 5)
  t.ok(next.outcome === 'started' && next.leaseToken > highest + 1, 'tokens handed out before the swap are never handed out again')
  t.same([statsOf(first).reopened, statsOf(second).reopened], [1, 1], 'each store reopened the path once')
  t.same([...ledger.claims.values()].filter((ids) => ids.length > 1), [], 'no occurrence claimed twice')
})

t.test('a batch that committed into a file deleted meanwhile fails as a whole, and the next one runs on the new file', async (t) => {
  const path = newFile()
  const connection = new SqliteConnection(path, 1000, {
    migrate: (db) => migrate(db),
    prepare: (db) => ({ insert: db.prepare("INSERT INTO fastify_scheduler_meta (key, value) VALUES (?, 'x')"), count: db.prepare('SELECT count(*) AS n FROM fastify_scheduler_meta') }),
    newBatch: () => undefined,
    saveBatch: () => {}
  })
  await connection.open()
  t.teardown(() => connection.close())
  // The file goes away inside the transaction, between the check before the batch and the commit.
  const both = await Promise.allSettled([
    connection.write((sql) => sql.insert.run('before-deletion')),
    connection.write((sql) => {
      deleteFile(path)
      return sql.insert.run('during-deletion')
    })
  ])
  t.match(both, [
    { status: 'rejected', reason: { code: 'FST_SCHEDULER_STORE_UNAVAILABLE', message: /was replaced or deleted while this process wrote to it/ } },
    { status: 'rejected', reason: { code: 'FST_SCHEDULER_STORE_UNAVAILABLE' } }
  ], 'every call of the batch fails: what it committed, nobody will read')
  t.same(await connection.write((sql) => sql.count.get()), { n: 2 }, 'the next batch runs on a new file (its two schema rows only)')
  t.equal(connection.stats.reopened, 1)
})

interface Line { task: string, scheduledFor: string, pid: number, token: number }
type Reply = { type: 'ready' } | { type: 'ticked', unavailable: number }

const replicaScript = fileURLToPath(new URL('../fixtures/sqlite/replica.ts', import.meta.url))

function reply (child: ChildProcess): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`replica exited with ${code}`))
    child.once('exit', onExit)
    child.once('message', (message: Reply) => {
      child.off('exit', onExit)
      resolve(message)
    })
  })
}

/**
 * Two real processes (test/fixtures/sqlite/replica.ts) tick the same minutes in lock-step
 * while the file is deleted under them before some minutes (`deletedBefore`) or right after
 * a minute's ticks were sent (`deletedDuring`), or anything `before` does before a minute.
 * Returns the ledger the tasks wrote.
 */
async function tickThroughDeletions (t: Test, deletedBefore: Set<number>, deletedDuring: Set<number>, before: Map<number, (path: string) => void> = new Map()): Promise<{ minutes: number[], lines: Line[], retried: number }> {
  const path = newFile()
  const ledger = join(dir, `ledger-${Math.random().toString(36).slice(2)}.jsonl`)
  const replicas = [0, 1].map(() => fork(replicaScript, [path, ledger], {
    env: untrackedEnv(), execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  }))
  t.teardown(() => { for (const child of replicas) if (child.exitCode === null) child.kill('SIGKILL') })
  await Promise.all(replicas.map(reply))

  const first = Date.parse('2026-01-05T09:00:00Z')
  const minutes = Array.from({ length: 12 }, (_, i) => first + i * MINUTE)
  let retried = 0
  for (const [i, minute] of minutes.entries()) {
    if (deletedBefore.has(i)) deleteFile(path)
    before.get(i)?.(path)
    // A tick the store could not serve (503) is sent again for the same minute, as a trigger's retry would.
    for (let attempt = 0; attempt < 3; attempt++) {
      const ticked = replicas.map((child) => {
        const answered = reply(child)
        child.send({ type: 'tick', minute })
        return answered
      })
      if (deletedDuring.has(i) && attempt === 0) deleteFile(path)
      const answers = await Promise.all(ticked)
      if (answers.every((a) => a.type === 'ticked' && a.unavailable === 0)) break
      retried++
    }
  }
  await Promise.all(replicas.map((child) => new Promise((resolve) => {
    child.once('disconnect', resolve)
    child.send({ type: 'close' })
  })))
  const lines = readFileSync(ledger, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Line)
  return { minutes, lines, retried }
}

/**
 * Judge a ledger: no `task@occurrence` ran twice (asserted), with the reliability row
 * printed; returns what went unrun.
 */
function judgeLedger (t: Test, what: string, minutes: readonly number[], lines: readonly Line[]): string[] {
  const owed = minutes.flatMap((minute) => ['a', 'b', 'c'].map((task) => `${task}@${new Date(minute).toISOString()}`))
  const ran = lines.map((line) => `${line.task}@${line.scheduledFor}`)
  const report = reportLedger(t, what, owed, ran)
  t.equal(report.duplicated, 0, 'no occurrence ran twice')
  return owed.filter((key) => !ran.includes(key))
}

t.test('two real processes tick every minute while the file is deleted under them between ticks: no occurrence runs twice (ledger)', async (t) => {
  // The first claim in the new file gets a fencing token not larger than one the process saw:
  // unless its heartbeat noticed the smaller counter first and rebased, the scheduler refuses
  // to run that claim (docs/ARCHITECTURE.md#a-store-that-goes-back-in-time), so the minute
  // right after a deletion may go unrun; every other minute runs once.
  const deletedBefore = [3, 6, 9]
  const { minutes, lines, retried } = await tickThroughDeletions(t, new Set(deletedBefore), new Set())
  const afterDeletion = new Set(deletedBefore.map((i) => new Date(minutes[i]!).toISOString()))
  const lost = judgeLedger(t, 'SQLite file deleted between ticks under two processes', minutes, lines)
  t.same(lost.filter((key) => !afterDeletion.has(key.slice(2))), [], `every other minute of every task ran (unrun: ${lost.join(', ') || 'none'})`)
  t.comment(`${lines.length} runs by ${new Set(lines.map((l) => l.pid)).size} processes; ${retried} ticks sent again after a 503`)
})

t.test('two real processes while the file is deleted during a minute\'s ticks: no occurrence runs twice (ledger)', async (t) => {
  // A claim made in the deleted file just before the deletion is lost with it; the other
  // process then claims that minute in the new file, with a fencing token not larger than one
  // it saw, and the scheduler treats that as state loss instead of running it again.
  const during = [4, 8]
  const { minutes, lines } = await tickThroughDeletions(t, new Set(), new Set(during))
  const duringIso = new Set(during.map((i) => new Date(minutes[i]!).toISOString()))
  const lost = judgeLedger(t, 'SQLite file deleted during a minute\'s ticks under two processes', minutes, lines)
  t.same(lost.filter((key) => !duringIso.has(key.slice(2))), [], `only a minute ticked during a deletion may go unrun (${lost.length} such runs)`)
})

t.test('two real processes while the file is swapped for an older copy: no occurrence runs twice (ledger)', async (t) => {
  const older = join(dir, 'older-app-copy.sqlite')
  const { minutes, lines } = await tickThroughDeletions(t, new Set(), new Set(), new Map([
    [3, (path) => {
      const snapshot = new Database(path)
      snapshot.exec(`VACUUM INTO '${older}'`)
      snapshot.close()
    }],
    [8, (path) => {
      rmSync(`${path}-wal`, { force: true })
      rmSync(`${path}-shm`, { force: true })
      renameSync(older, path)
    }]
  ]))
  const lost = judgeLedger(t, 'SQLite file swapped for an older copy under two processes', minutes, lines)
  t.same(lost.filter((key) => key.slice(2) < new Date(minutes[8]!).toISOString()), [], 'every minute before the swap ran')
  t.ok(lost.length <= 6, `at most the two minutes that noticed the swap went unrun: ${lost.join(', ') || 'none'}`)
})
