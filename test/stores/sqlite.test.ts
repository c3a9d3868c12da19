import { existsSync, mkdtempSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { sqliteStore } from '../../plugin/stores/sqlite/index.js'
import { SCHEMA_VERSION } from '../../plugin/stores/sqlite/migrations.js'
import type { RunRecord, StartRunResult, Store } from '../../plugin/stores/store.js'
import { T0, claimRace, run, storeConformance } from './conformance.js'
import { tempFiles } from './sqlite-fixtures.js'

const MINUTE = 60_000
const { dir, newFile } = tempFiles(t)

storeConformance(t, 'sqlite', async () => sqliteStore({ path: newFile() }))

/** Start `record` as a scheduled run of its occurrence, leasing its task name at its start. */
function start (store: Store, record: RunRecord, nowMs = record.startedAt.getTime()): Promise<StartRunResult> {
  return store.startRun({ run: record, claim: 'occurrence', lease: { key: record.task, ttlMs: MINUTE, nowMs }, historyLimit: 100 })
}

t.test('sqlite store says what it is, and checks its options', async (t) => {
  const store = sqliteStore({ path: newFile() })
  t.equal(store.kind, 'sqlite')
  t.equal(store.durable, true)
  t.throws(() => sqliteStore({ path: '' }), { code: 'FST_SCHEDULER_INVALID_OPTION' })
  for (const busyTimeout of [-1, Number.NaN, 2 ** 31, '5000' as unknown as number]) {
    t.throws(() => sqliteStore({ path: newFile(), busyTimeout }), { code: 'FST_SCHEDULER_INVALID_OPTION', message: /busyTimeout/ },
      `busyTimeout ${String(busyTimeout)} is refused`)
  }
})

t.test("':memory:' keeps everything in this process", async (t) => {
  const store = sqliteStore({ path: ':memory:' })
  await store.init()
  t.teardown(() => store.close())
  await store.ensureTasks(['report'], new Date(T0))
  t.equal((await start(store, run('a', 'report', 0, 'running'))).outcome, 'started')
  t.notOk(existsSync(join(process.cwd(), ':memory:')), 'no file named :memory:')
})

t.test('the default file is ./.fastify-scheduler.sqlite, resolved against the cwd at init', async (t) => {
  const cwd = process.cwd()
  const appDir = mkdtempSync(join(dir, 'app-'))
  t.teardown(() => process.chdir(cwd))
  const store = sqliteStore()
  process.chdir(appDir)
  await store.init()
  t.teardown(() => store.close())
  t.ok(existsSync(join(appDir, '.fastify-scheduler.sqlite')))
})

t.test('state survives closing and reopening the file', async (t) => {
  const path = newFile()
  const first = sqliteStore({ path })
  await first.init()
  await first.ensureTasks(['report'], new Date(T0))
  const started = await start(first, run('a', 'report', 1, 'running'))
  await first.finishRun(run('a', 'report', 1, 'failed'),
    { leaseKey: 'report', historyLimit: 100, retry: { of: new Date(T0 + MINUTE), attempt: 2, at: new Date(T0 + 5 * MINUTE) } })
  await first.heartbeat({ at: new Date(T0 + MINUTE), instance: 'h:1' })
  await first.close()

  const second = sqliteStore({ path })
  await second.init()
  t.teardown(() => second.close())
  t.same((await second.ensureTasks(['report'], new Date(0))).get('report'), {
    firstSeen: new Date(T0),
    lastOccurrence: new Date(T0 + MINUTE),
    retry: { of: new Date(T0 + MINUTE), attempt: 2, at: new Date(T0 + 5 * MINUTE) }
  })
  t.same(await start(second, run('b', 'report', 1, 'running')), { outcome: 'claimed' })
  t.same((await second.heartbeat()).lastTick, new Date(T0 + MINUTE))
  const next = await start(second, run('c', 'report', 2, 'running'), T0 + 10 * MINUTE)
  t.ok(started.outcome === 'started' && next.outcome === 'started' && next.leaseToken > started.leaseToken,
    'the fencing counter survives a reopen')
})

t.test('two store instances on one file: one winner per occurrence, one fencing counter', async (t) => {
  const path = newFile()
  const stores = [sqliteStore({ path }), sqliteStore({ path })]
  for (const store of stores) {
    await store.init()
    t.teardown(() => store.close())
  }
  await stores[0]!.ensureTasks(['report'], new Date(T0))
  t.equal(await claimRace(stores, 'report', new Date(T0), 100), 1)
  const tokens: number[] = []
  for (let i = 0; i < 10; i++) {
    const result = await stores[i % 2]!.startRun({
      run: run(`forced-${i}`, 'report', 0, 'running', { forced: true }), claim: 'none', lease: { key: `k-${i}`, ttlMs: MINUTE, nowMs: T0 }, historyLimit: 100
    })
    if (result.outcome === 'started') tokens.push(result.leaseToken)
  }
  t.equal(tokens.length, 10)
  t.ok(tokens.every((token, i) => i === 0 || token > tokens[i - 1]!), `tokens only grow across instances: ${tokens.join(', ')}`)
})

/** The v1 schema (commit 8545421), to build a file the way the previous release left it. */
const V1_SCHEMA = `
CREATE TABLE fastify_scheduler_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE fastify_scheduler_tasks (task TEXT PRIMARY KEY, first_seen INTEGER NOT NULL, last_occurrence INTEGER);
CREATE TABLE fastify_scheduler_leases (key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE INDEX fastify_scheduler_leases_expiry ON fastify_scheduler_leases (expires_at);
CREATE TABLE fastify_scheduler_runs (
  id TEXT PRIMARY KEY, task TEXT NOT NULL, scheduled_for INTEGER NOT NULL, trigger TEXT NOT NULL,
  started_at INTEGER NOT NULL, finished_at INTEGER, duration_ms INTEGER, status TEXT NOT NULL, error TEXT, stack TEXT
);
CREATE INDEX fastify_scheduler_runs_task ON fastify_scheduler_runs (task, started_at DESC, id DESC);
CREATE INDEX fastify_scheduler_runs_started ON fastify_scheduler_runs (started_at DESC, id DESC);
INSERT INTO fastify_scheduler_meta (key, value) VALUES ('schema_version', '1');
`

/** A v1 file: task `report` claimed at T0+1min, a finished run and a running one whose lease expires at T0+3min. */
function writeV1File (path: string): void {
  const v1 = new Database(path)
  v1.pragma('journal_mode = WAL')
  v1.exec(V1_SCHEMA)
  v1.prepare('INSERT INTO fastify_scheduler_tasks VALUES (?, ?, ?)').run('report', T0, T0 + MINUTE)
  v1.prepare('INSERT INTO fastify_scheduler_leases VALUES (?, ?, ?)').run('report', 'old-running', T0 + 3 * MINUTE)
  const insertRun = v1.prepare('INSERT INTO fastify_scheduler_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
  insertRun.run('old-done', 'report', T0, 'http', T0, T0 + 1500, 1500, 'failed', 'boom', 'Error: boom')
  insertRun.run('old-running', 'report', T0 + MINUTE, 'cli', T0 + MINUTE, null, null, 'running', null, null)
  v1.close()
}

function columnsOf (path: string, table: string): string[] {
  const db = new Database(path, { readonly: true })
  try {
    return db.prepare<[], { name: string }>(`PRAGMA table_info(${table})`).all().map((c) => c.name)
  } finally {
    db.close()
  }
}

function schemaVersion (path: string): string | undefined {
  const db = new Database(path, { readonly: true })
  try {
    return db.prepare<[], { value: string }>("SELECT value FROM fastify_scheduler_meta WHERE key = 'schema_version'").get()?.value
  } finally {
    db.close()
  }
}

t.test('a v1 file is migrated in place at init: old rows read as attempt 1, not forced; new runs work', async (t) => {
  const path = newFile()
  writeV1File(path)
  const store = sqliteStore({ path })
  await store.init()
  t.teardown(() => store.close())

  t.equal(schemaVersion(path), String(SCHEMA_VERSION), 'schema_version bumped to the newest migration')
  t.same(columnsOf(path, 'fastify_scheduler_runs').slice(-8), ['attempt', 'forced', 'instance', 'payload', 'output', 'covers_from', 'covers_to', 'covers_count'])
  t.same(columnsOf(path, 'fastify_scheduler_tasks').slice(-5), ['retry_of', 'retry_attempt', 'retry_at', 'last_attempt', 'buffered'])
  t.same(columnsOf(path, 'fastify_scheduler_leases').slice(-1), ['superseded'], 'migration 6: the lease\'s superseded mark')

  const { runs } = await store.listRuns({})
  t.same(runs, [
    { ...run('old-running', 'report', 1, 'running'), trigger: 'cli' },
    { ...run('old-done', 'report', 0, 'failed'), error: 'boom', stack: 'Error: boom' }
  ], 'old rows read back whole, with attempt 1 and forced false, no instance')
  t.strictSame(runs.map((r) => [r.attempt, r.forced, 'instance' in r]), [[1, false, false], [1, false, false]])
  t.same((await store.ensureTasks(['report'], new Date(0))).get('report'),
    { firstSeen: new Date(T0), lastOccurrence: new Date(T0 + MINUTE) }, 'task state kept, no pending retry')

  t.same(await start(store, run('again', 'report', 1, 'running')), { outcome: 'claimed' }, 'the v1 claim still holds')
  const taken = await start(store, run('new', 'report', 4, 'running', { instance: 'host:7' }))
  t.same(taken, { outcome: 'started', leaseToken: 1, abandoned: 'old-running' },
    'the expired v1 lease is taken over, its running record abandoned, the fencing counter starts')
  await store.finishRun(run('new', 'report', 4, 'failed', { instance: 'host:7', error: 'x' }),
    { leaseKey: 'report', historyLimit: 100, retry: { of: new Date(T0 + 4 * MINUTE), attempt: 2, at: new Date(T0 + 9 * MINUTE) } })
  const retried = await store.startRun({
    run: run('retry', 'report', 4, 'running', { attempt: 2 }), claim: 'retry', lease: { key: 'report', ttlMs: MINUTE, nowMs: T0 + 9 * MINUTE }, historyLimit: 100
  })
  t.same(retried, { outcome: 'started', leaseToken: 2 }, 'the pending retry starts on the migrated file')
  t.same((await store.recentRuns(['report'], 2)).get('report')?.map((r) => [r.id, r.status, r.attempt, r.instance]),
    [['retry', 'running', 2, undefined], ['new', 'failed', 1, 'host:7']], 'new fields round-trip')
  await store.close()

  const reopened = sqliteStore({ path })
  await reopened.init()
  t.teardown(() => reopened.close())
  t.equal((await reopened.listRuns({})).total, 4, 'opening the migrated file again changes nothing')
})

/** The v2 schema (commit 2f59265, before the migration list), to build a file the way that release left it. */
const V2_SCHEMA = `
CREATE TABLE IF NOT EXISTS fastify_scheduler_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fastify_scheduler_tasks (
  task TEXT PRIMARY KEY,
  first_seen INTEGER NOT NULL,
  last_occurrence INTEGER,
  retry_of INTEGER,
  retry_attempt INTEGER,
  retry_at INTEGER
);
CREATE TABLE IF NOT EXISTS fastify_scheduler_leases (
  key TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS fastify_scheduler_leases_expiry ON fastify_scheduler_leases (expires_at);
CREATE TABLE IF NOT EXISTS fastify_scheduler_runs (
  id TEXT PRIMARY KEY,
  task TEXT NOT NULL,
  scheduled_for INTEGER NOT NULL,
  trigger TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  finished_at INTEGER,
  duration_ms INTEGER,
  status TEXT NOT NULL,
  error TEXT,
  stack TEXT,
  attempt INTEGER NOT NULL DEFAULT 1,
  forced INTEGER NOT NULL DEFAULT 0,
  instance TEXT
);
CREATE INDEX IF NOT EXISTS fastify_scheduler_runs_task ON fastify_scheduler_runs (task, started_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS fastify_scheduler_runs_started ON fastify_scheduler_runs (started_at DESC, id DESC);
INSERT INTO fastify_scheduler_meta (key, value) VALUES ('schema_version', '2');
`

/** Every table's and index's SQL, by name. */
function schemaOf (path: string): Map<string, string> {
  const db = new Database(path, { readonly: true })
  try {
    return new Map(db.prepare<[], { name: string, sql: string }>('SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL').all().map((r) => [r.name, r.sql]))
  } finally {
    db.close()
  }
}

t.test('a v2 file opens as it is and gets only the newer migrations: last_attempt NULL on old rows lets the retry fences pass', async (t) => {
  const path = newFile()
  const v2 = new Database(path)
  v2.pragma('journal_mode = WAL')
  v2.exec(V2_SCHEMA)
  v2.prepare('INSERT INTO fastify_scheduler_tasks (task, first_seen, last_occurrence) VALUES (?, ?, ?)').run('report', T0, T0 + MINUTE)
  v2.prepare("INSERT INTO fastify_scheduler_leases VALUES ('report', 'v2-running', ?)").run(T0 + 3 * MINUTE)
  v2.prepare("INSERT INTO fastify_scheduler_runs (id, task, scheduled_for, trigger, started_at, status, attempt) VALUES ('v2-running', 'report', ?, 'http', ?, 'running', 1)")
    .run(T0 + MINUTE, T0 + MINUTE)
  v2.close()
  const before = schemaOf(path)

  const store = sqliteStore({ path })
  await store.init()
  t.teardown(() => store.close())
  const after = schemaOf(path)
  // Migrations 4 (pauses), 8 (the claimOnce table and its index) and 9 (backfills, runs by occurrence) add tables; nothing else is added or dropped.
  const added = ['fastify_scheduler_pauses', 'fastify_scheduler_claims', 'fastify_scheduler_claims_until',
    'fastify_scheduler_backfills', 'fastify_scheduler_backfills_pending', 'fastify_scheduler_runs_occurrence']
  t.same([...after.keys()].sort(), [...before.keys(), ...added].sort(), 'only the pauses, claims and backfills tables and their indexes added, nothing dropped')
  for (const [name, sql] of before) {
    if (name !== 'fastify_scheduler_tasks' && name !== 'fastify_scheduler_leases' && name !== 'fastify_scheduler_runs') t.equal(after.get(name), sql, `${name} unchanged`)
  }
  t.same(columnsOf(path, 'fastify_scheduler_tasks').slice(-3), ['retry_at', 'last_attempt', 'buffered'], 'the task rows gained last_attempt (3) and buffered (6), nothing else')
  t.same(columnsOf(path, 'fastify_scheduler_leases'), ['key', 'owner', 'expires_at', 'superseded'], 'the leases gained superseded (6)')
  t.same(columnsOf(path, 'fastify_scheduler_runs').slice(-6), ['instance', 'payload', 'output', 'covers_from', 'covers_to', 'covers_count'], 'the runs gained payload (5), output and covers (7)')
  t.equal(schemaVersion(path), String(SCHEMA_VERSION))

  // The v2 run fails and asks for a retry: its task row has no last_attempt, which passes the fence.
  await store.finishRun(run('v2-running', 'report', 1, 'failed'),
    { leaseKey: 'report', historyLimit: 100, retry: { of: new Date(T0 + MINUTE), attempt: 2, at: new Date(T0 + 6 * MINUTE) } })
  t.same((await store.ensureTasks(['report'], new Date(0))).get('report')?.retry,
    { of: new Date(T0 + MINUTE), attempt: 2, at: new Date(T0 + 6 * MINUTE) }, 'the retry of a run started before the upgrade is armed')
  await store.close()
  const reopened = sqliteStore({ path })
  await reopened.init()
  t.teardown(() => reopened.close())
  t.same(schemaOf(path), after, 'opening it again runs nothing')
})

t.test('busyTimeout takes a duration like every other option', async (t) => {
  for (const busyTimeout of ['500 ms', '2 seconds', 250]) {
    const store = sqliteStore({ path: newFile(), busyTimeout })
    await store.init()
    await store.close()
  }
  t.throws(() => sqliteStore({ busyTimeout: '5 minits' }), { code: 'FST_SCHEDULER_INVALID_OPTION', message: /sqliteStore: busyTimeout "5 minits"/ })
})

/** Set meta rows of a closed file directly (what a newer release would have written). */
function setMeta (path: string, values: Record<string, string>): void {
  const db = new Database(path)
  for (const [key, value] of Object.entries(values)) {
    db.prepare('INSERT INTO fastify_scheduler_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value)
  }
  db.close()
}

t.test('a file written by a newer schema is refused at init, saying what to do', async (t) => {
  const path = newFile()
  const store = sqliteStore({ path })
  await store.init()
  await store.close()
  setMeta(path, { schema_version: String(SCHEMA_VERSION + 1), schema_breaking: String(SCHEMA_VERSION + 1) })
  await t.rejects(sqliteStore({ path }).init(), {
    code: 'FST_SCHEDULER_STORE_UNAVAILABLE',
    message: `the database file was written by a newer fastify-scheduler (schema ${SCHEMA_VERSION + 1}, this one knows ${SCHEMA_VERSION}): upgrade the package`
  })
})

t.test('a newer schema whose newer migrations are all non-breaking is opened as it is', async (t) => {
  const path = newFile()
  const first = sqliteStore({ path })
  await first.init()
  await first.close()
  setMeta(path, { schema_version: String(SCHEMA_VERSION + 1), schema_breaking: String(SCHEMA_VERSION) })
  const store = sqliteStore({ path })
  await store.init()
  t.teardown(() => store.close())
  await store.ensureTasks(['report'], new Date(T0))
  t.equal((await start(store, run('a', 'report', 1, 'running'))).outcome, 'started')
  t.equal(schemaVersion(path), String(SCHEMA_VERSION + 1), 'the newer version is left as it was')
})

t.test('a file that cannot be opened fails init naming the path; calls are then unavailable', async (t) => {
  const store = sqliteStore({ path: dir }) // a directory, not a database file
  await t.rejects(store.init(), { code: 'FST_SCHEDULER_STORE_OPEN', message: `cannot open the SQLite store at ${dir}: it is a folder; name a file` })
  await t.rejects(start(store, run('a', 'report', 0, 'running')), { code: 'FST_SCHEDULER_STORE_UNAVAILABLE' },
    'calls on a store that is not open reject with the coded error')
  await store.close()
})

t.test('a heartbeat committed in the same batch as a start counts the token that start took', async (t) => {
  const store = sqliteStore({ path: newFile() })
  await store.init()
  t.teardown(() => store.close())
  await store.ensureTasks(['report'], new Date(T0))
  const [started, cluster] = await Promise.all([start(store, run('a', 'report', 1, 'running')), store.heartbeat({ at: new Date(T0), instance: 'h:1' })])
  t.ok(started.outcome === 'started' && cluster.fence === started.leaseToken, `fence ${cluster.fence} is the token just handed out`)
  t.equal((await store.heartbeat()).fence, cluster.fence, 'and what was committed')
})

t.test('writes issued together share one transaction, yet a failing one fails alone', async (t) => {
  const store = sqliteStore({ path: newFile() })
  await store.init()
  t.teardown(() => store.close())
  await store.ensureTasks(['a', 'b', 'c'], new Date(T0))
  const broken = { ...run('bad', 'b', 1, 'running'), trigger: {} as unknown as RunRecord['trigger'] } // SQLite cannot bind an object
  const results = await Promise.allSettled([
    start(store, run('good-a', 'a', 1, 'running')),
    start(store, broken),
    start(store, run('good-c', 'c', 1, 'running'))
  ])
  t.match(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled'])
  t.match(results[1], { reason: { code: 'FST_SCHEDULER_STORE_UNAVAILABLE' } }, 'the failing call rejects with the coded error')
  const tokens = results.flatMap((r) => r.status === 'fulfilled' && r.value.outcome === 'started' ? [r.value.leaseToken] : [])
  t.equal(tokens.length, 2, 'the others started')
  t.ok(tokens[1]! > tokens[0]!, 'with growing fencing tokens')
  t.same((await store.listRuns({})).runs.map((r) => r.id).sort(), ['good-a', 'good-c'], 'nothing of the failing call was written')
  t.same((await store.ensureTasks(['b'], new Date(0))).get('b'), { firstSeen: new Date(T0) }, 'its claim was rolled back: still owed')
})
