/**
 * The SQLite store, the default: one file, durable, safe for several processes on one host.
 * The contract and the fault model are in `docs/ARCHITECTURE.md`.
 *
 * WAL mode lets readers and one writer proceed together. Every write runs inside a
 * `BEGIN IMMEDIATE` transaction, which takes the write lock before it reads, so each
 * condition is checked under the lock:
 * - `startRun`: a conditional UPDATE claims the occurrence (row present, not before
 *   first_seen, not yet claimed; clears the pending retry) or the retry; the lease is taken
 *   with INSERT … ON CONFLICT DO NOTHING, and only when a row is there is it read: held →
 *   the `skipped` record; expired → its holder's `running` record set `abandoned` and the
 *   lease overwritten; then the `running` record, the next fencing token (the `lease_token`
 *   meta row, read once per transaction, counted in memory and written back before the
 *   commit) and pruning (the cutoff row found by OFFSET, older rows deleted). A refused claim
 *   reads the task row to tell `stale` from `claimed` and writes nothing.
 * - `finishRun`: an upsert of the final record that leaves a settled status as it is, the
 *   lease released if the run still holds it, the pending retry set, prune.
 * - `abandonExpired`: UPDATE … RETURNING flips the `running` records of expired leases to
 *   `abandoned`, then those leases are deleted.
 * Pending retries are nullable columns of the task row; the cluster's last tick is a meta
 * row that only grows. Instants are integer milliseconds since the epoch (UTC). A v1 file
 * gets the new columns at init (`migrate`).
 *
 * Group commit: the writes issued in one event-loop turn (a tick starts or finishes all its
 * due tasks at once) run together, in call order, in ONE transaction at the next check
 * phase: a tick of 100 starts pays for one commit and one lock instead of 100. Each call
 * stays atomic (the transaction commits all or none). If a call fails for any reason but
 * the lock, the transaction rolls back and each call is run again in a transaction of its
 * own, so that only the failing call fails.
 *
 * Never freezing the event loop: better-sqlite3 is synchronous, and SQLite's busy handler
 * sleeps in the calling thread while another process holds the write lock. So the busy
 * timeout is a few milliseconds, and a call that still meets SQLITE_BUSY / SQLITE_LOCKED is
 * retried from a timer with jittered backoff until the `busyTimeout` deadline. Retrying is
 * safe because each call is one statement or one transaction, which either committed or
 * rolled back.
 */
import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import Database from 'better-sqlite3'
import { InvalidOptionError, storeUnavailable } from '../errors.js'
import { RUN_COLUMNS, runFromStored, withStoreErrors, type StoredRun } from './driver.js'
import { overlapRecord, pageOfRuns, SETTLED_STATUSES, TAKEOVER_REASON } from './history.js'
import type { ClusterState, PendingRetry, RunRecord, StartRunResult, Store, TaskRetry, TaskState } from './store.js'

export interface SqliteStoreOptions {
  /**
   * Database file, resolved against `process.cwd()` when the store opens.
   * Default `./.fastify-scheduler.sqlite`. `':memory:'` keeps everything in this process.
   */
  path?: string
  /**
   * How long a call keeps retrying while another process holds the write lock, in ms,
   * before it fails with FST_SCHEDULER_STORE_UNAVAILABLE. Default 5000. The wait is
   * asynchronous: the event loop keeps running.
   */
  busyTimeout?: number
}

export const DEFAULT_SQLITE_PATH = './.fastify-scheduler.sqlite'
const SCHEMA_VERSION = 2
const DEFAULT_BUSY_TIMEOUT_MS = 5000
/** The longest SQLite may block the thread waiting for a lock before the call is retried from a timer. */
const SYNC_BUSY_WAIT_MS = 10
const FIRST_BACKOFF_MS = 5
const MAX_BACKOFF_MS = 100
const SETTLED_LIST = SETTLED_STATUSES.map((status) => `'${status}'`).join(', ')

const SCHEMA = `
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
`

/**
 * Columns added since schema 1, by table: `CREATE TABLE IF NOT EXISTS` leaves an existing
 * v1 table as it was, so init adds whichever of these `PRAGMA table_info` does not list.
 * Every one is nullable or has a default, so v1 rows stay valid (attempt 1, not forced).
 */
const ADDED_COLUMNS: Record<string, ReadonlyArray<[name: string, definition: string]>> = {
  fastify_scheduler_tasks: [['retry_of', 'INTEGER'], ['retry_attempt', 'INTEGER'], ['retry_at', 'INTEGER']],
  fastify_scheduler_runs: [['attempt', 'INTEGER NOT NULL DEFAULT 1'], ['forced', 'INTEGER NOT NULL DEFAULT 0'], ['instance', 'TEXT']]
}

/** `?, ?, ?` for a list of n bound values. */
function placeholders (n: number): string {
  return Array.from({ length: n }, () => '?').join(', ')
}

/** SQLITE_BUSY, SQLITE_LOCKED and their extended codes: another connection holds a lock. */
function isLockError (err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code)
}

/**
 * Create the tables, or bring a v1 file up to this schema in place, in one transaction (so
 * two processes opening one old file migrate it once). A file written by a newer version
 * is refused rather than half understood.
 */
function migrate (db: Database.Database): void {
  db.transaction(() => {
    db.exec(SCHEMA)
    const stored = db.prepare<[], { value: string }>("SELECT value FROM fastify_scheduler_meta WHERE key = 'schema_version'").get()
    const version = stored === undefined ? SCHEMA_VERSION : Number(stored.value)
    if (version > SCHEMA_VERSION) {
      throw new Error(`the database file has schema version ${version}, written by a newer fastify-scheduler (this one reads up to ${SCHEMA_VERSION})`)
    }
    for (const [table, columns] of Object.entries(ADDED_COLUMNS)) {
      const present = new Set(db.prepare<[], { name: string }>(`PRAGMA table_info(${table})`).all().map((c) => c.name))
      for (const [name, definition] of columns) {
        if (!present.has(name)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${name} ${definition}`)
      }
    }
    db.prepare(`INSERT INTO fastify_scheduler_meta (key, value) VALUES ('schema_version', ?)
      ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run(String(SCHEMA_VERSION))
  }).immediate()
}

/** Every statement the store runs, prepared once per open database. */
function prepareStatements (db: Database.Database) {
  const abandonSet = "status = 'abandoned', finished_at = @nowMs, duration_ms = max(0, @nowMs - started_at), error = @reason"
  return {
    insertTask: db.prepare('INSERT INTO fastify_scheduler_tasks (task, first_seen) VALUES (?, ?) ON CONFLICT (task) DO NOTHING'),
    selectTask: db.prepare<[string], {
      first_seen: number, last_occurrence: number | null, retry_of: number | null, retry_attempt: number | null, retry_at: number | null
    }>('SELECT first_seen, last_occurrence, retry_of, retry_attempt, retry_at FROM fastify_scheduler_tasks WHERE task = ?'),
    /** Claim the occurrence `at` if it is owed: the row exists, `at` is not before first_seen nor already claimed. */
    claimOccurrence: db.prepare<[number, string, number, number]>(`
      UPDATE fastify_scheduler_tasks SET last_occurrence = ?, retry_of = NULL, retry_attempt = NULL, retry_at = NULL
      WHERE task = ? AND first_seen <= ? AND (last_occurrence IS NULL OR last_occurrence < ?)`),
    claimRetry: db.prepare(`
      UPDATE fastify_scheduler_tasks SET retry_of = NULL, retry_attempt = NULL, retry_at = NULL
      WHERE task = ? AND retry_of = ? AND retry_attempt = ?`),
    setRetry: db.prepare('UPDATE fastify_scheduler_tasks SET retry_of = ?, retry_attempt = ?, retry_at = ? WHERE task = ?'),
    selectLease: db.prepare<[string], { owner: string, expires_at: number }>(
      'SELECT owner, expires_at FROM fastify_scheduler_leases WHERE key = ?'),
    takeFreeLease: db.prepare('INSERT INTO fastify_scheduler_leases (key, owner, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING'),
    upsertLease: db.prepare(`
      INSERT INTO fastify_scheduler_leases (key, owner, expires_at) VALUES (?, ?, ?)
      ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at`),
    renewLease: db.prepare('UPDATE fastify_scheduler_leases SET expires_at = ? WHERE key = ? AND owner = ?'),
    releaseLease: db.prepare('DELETE FROM fastify_scheduler_leases WHERE key = ? AND owner = ?'),
    selectLeaseToken: db.prepare<[], { token: number }>(
      "SELECT CAST(value AS INTEGER) AS token FROM fastify_scheduler_meta WHERE key = 'lease_token'"),
    saveLeaseToken: db.prepare(`
      INSERT INTO fastify_scheduler_meta (key, value) VALUES ('lease_token', ?)
      ON CONFLICT (key) DO UPDATE SET value = excluded.value`),
    abandonRun: db.prepare(`UPDATE fastify_scheduler_runs SET ${abandonSet} WHERE id = @id AND status = 'running' RETURNING id`),
    abandonExpired: db.prepare<[{ nowMs: number, reason: string }], StoredRun>(`
      UPDATE fastify_scheduler_runs SET ${abandonSet}
      WHERE status = 'running' AND id IN (SELECT owner FROM fastify_scheduler_leases WHERE expires_at <= @nowMs)
      RETURNING ${RUN_COLUMNS}`),
    deleteExpiredLeases: db.prepare('DELETE FROM fastify_scheduler_leases WHERE expires_at <= ?'),
    /** Insert or replace a record (bound by `runRow`); with `settledKept` = 1 a stored settled record is left as it is. */
    upsertRun: db.prepare(`
      INSERT INTO fastify_scheduler_runs
        (id, task, scheduled_for, trigger, started_at, finished_at, duration_ms, status, error, stack, attempt, forced, instance)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET
        task = excluded.task, scheduled_for = excluded.scheduled_for, trigger = excluded.trigger,
        started_at = excluded.started_at, finished_at = excluded.finished_at, duration_ms = excluded.duration_ms,
        status = excluded.status, error = excluded.error, stack = excluded.stack,
        attempt = excluded.attempt, forced = excluded.forced, instance = excluded.instance
      WHERE ? = 0 OR status NOT IN (${SETTLED_LIST})`),
    /** The newest row of a task that pruning removes (ranked after `historyLimit`), if any. */
    pruneCutoff: db.prepare<[string, number], { started_at: number, id: string }>(
      'SELECT started_at, id FROM fastify_scheduler_runs WHERE task = ? ORDER BY started_at DESC, id DESC LIMIT 1 OFFSET ?'),
    /** Every row ranked at or after the cutoff, except running ones (a cheaper form than a DELETE over an OFFSET subquery). */
    pruneRuns: db.prepare<[string, number, number, string]>(`
      DELETE FROM fastify_scheduler_runs
      WHERE task = ? AND status <> 'running' AND (started_at < ? OR (started_at = ? AND id <= ?))`),
    recordTick: db.prepare(`
      INSERT INTO fastify_scheduler_meta (key, value) VALUES ('last_tick', ?)
      ON CONFLICT (key) DO UPDATE SET value = excluded.value
      WHERE CAST(value AS INTEGER) < CAST(excluded.value AS INTEGER)`),
    selectLastTick: db.prepare<[], { at: number }>(
      "SELECT CAST(value AS INTEGER) AS at FROM fastify_scheduler_meta WHERE key = 'last_tick'"),
    selectRetries: db.prepare<[], { task: string, retry_of: number, retry_attempt: number, retry_at: number }>(`
      SELECT task, retry_of, retry_attempt, retry_at FROM fastify_scheduler_tasks
      WHERE retry_of IS NOT NULL ORDER BY retry_at, task`),
    recentRuns: db.prepare<[string, number], StoredRun>(
      `SELECT ${RUN_COLUMNS} FROM fastify_scheduler_runs WHERE task = ? ORDER BY started_at DESC, id DESC LIMIT ?`)
  }
}

type Statements = ReturnType<typeof prepareStatements>

/**
 * The fencing counter within one transaction: read once, counted in memory, written back
 * before the commit. The write lock is held throughout, so no other process can take a
 * token in between, and a rollback discards the tokens with everything else.
 */
function leaseTokens (sql: Statements) {
  let last: number | undefined
  return {
    next (): number {
      last = (last ?? sql.selectLeaseToken.get()?.token ?? 0) + 1
      return last
    },
    save (): void {
      if (last !== undefined) sql.saveLeaseToken.run(String(last))
    }
  }
}

type LeaseTokens = ReturnType<typeof leaseTokens>

interface QueuedWrite {
  work: (sql: Statements, tokens: LeaseTokens) => unknown
  resolve: (value: unknown) => void
  reject: (err: unknown) => void
}

/** Another process held the write lock for the whole `busyTimeout`. */
class LockedError extends Error {}

/**
 * A run as `upsertRun`'s positional parameters: instants in ms, `forced` as 0/1 (SQLite has
 * no booleans), unset fields null. Positional rather than `runToStored`'s named object: on
 * startRun's hot path better-sqlite3 binds an array in about half the time.
 */
function runRow (run: RunRecord, settledKept: boolean): unknown[] {
  return [
    run.id, run.task, run.scheduledFor.getTime(), run.trigger, run.startedAt.getTime(), run.finishedAt?.getTime() ?? null,
    run.durationMs ?? null, run.status, run.error ?? null, run.stack ?? null, run.attempt, run.forced ? 1 : 0, run.instance ?? null,
    settledKept ? 1 : 0
  ]
}

function retryParams (retry: PendingRetry): [number, number, number] {
  return [retry.of.getTime(), retry.attempt, retry.at.getTime()]
}

/** Write a record (keeping a settled one when `settledKept`) and prune the task's history; true if written. */
function writeRun (sql: Statements, run: RunRecord, historyLimit: number, settledKept = false): boolean {
  if (sql.upsertRun.run(runRow(run, settledKept)).changes === 0) return false
  const cutoff = sql.pruneCutoff.get(run.task, Math.max(0, Math.floor(historyLimit)))
  if (cutoff !== undefined) sql.pruneRuns.run(run.task, cutoff.started_at, cutoff.started_at, cutoff.id)
  return true
}

function checkBusyTimeout (value: unknown): number {
  if (value === undefined) return DEFAULT_BUSY_TIMEOUT_MS
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 2 ** 31 - 1) {
    throw new InvalidOptionError('sqliteStore: busyTimeout must be a number of milliseconds between 0 and 2147483647 (default 5000)')
  }
  return value
}

export function sqliteStore (options: SqliteStoreOptions = {}): Store {
  const configuredPath = options.path ?? DEFAULT_SQLITE_PATH
  if (typeof configuredPath !== 'string' || configuredPath === '') {
    throw new InvalidOptionError('sqliteStore: path must be a file path (default "./.fastify-scheduler.sqlite")')
  }
  const busyTimeout = checkBusyTimeout(options.busyTimeout)
  let file = configuredPath
  let db: Database.Database | undefined
  let statements: Statements | undefined
  let opening: Promise<void> | undefined
  /** Writes waiting for the next group commit, and the group commits under way. */
  let queued: QueuedWrite[] = []
  const flushing = new Set<Promise<void>>()

  /**
   * Run `attempt` until it does not meet a lock held by another process, waiting between
   * tries on a timer (5 ms doubling to 100 ms, jittered) until `busyTimeout` has passed.
   */
  async function retryWhileLocked<T> (attempt: () => T): Promise<T> {
    const deadline = performance.now() + busyTimeout
    let backoff = FIRST_BACKOFF_MS
    for (;;) {
      try {
        return attempt()
      } catch (err) {
        if (!isLockError(err)) throw err
        const left = deadline - performance.now()
        if (left <= 0) {
          throw new LockedError(`the database file ${file} is locked by another process (still locked after ${busyTimeout} ms)`, { cause: err })
        }
        await sleep(Math.min(left, backoff / 2 + Math.random() * backoff / 2))
        backoff = Math.min(MAX_BACKOFF_MS, backoff * 2)
      }
    }
  }

  /** Run `fn` against the open database, retried while locked; any failure becomes the coded store error. */
  async function use<T> (fn: (db: Database.Database, sql: Statements) => T): Promise<T> {
    return await withStoreErrors(() => retryWhileLocked(() => {
      if (db === undefined || statements === undefined) {
        throw new Error('the SQLite store is not open (init() not called, or closed)')
      }
      return fn(db, statements)
    }))
  }

  /**
   * Queue a write for the next group commit; its result (or coded error) settles the
   * promise. `work` must be synchronous and touch the database only through `sql`.
   */
  function write<T> (work: (sql: Statements, tokens: LeaseTokens) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      queued.push({ work, resolve: resolve as (value: unknown) => void, reject })
      if (queued.length === 1) setImmediate(flush)
    })
  }

  /** Run `items` in order in one `BEGIN IMMEDIATE` transaction, retried as a whole while another process holds the lock. */
  function runTogether (items: readonly QueuedWrite[]): Promise<unknown[]> {
    return use((db, sql) => db.transaction(() => {
      const tokens = leaseTokens(sql)
      const values = items.map((item) => item.work(sql, tokens))
      tokens.save()
      return values
    }).immediate())
  }

  /**
   * Commit every queued write together. If one of them fails (not for the lock), the
   * transaction rolled back as a whole: each is then run alone, so that only the failing
   * call fails (the common path pays for no savepoints).
   */
  function flush (): Promise<void> {
    const batch = queued
    queued = []
    if (batch.length === 0) return Promise.resolve()
    const done = runTogether(batch).then((values) => {
      values.forEach((value, i) => batch[i]!.resolve(value))
    }, async (err: unknown) => {
      if (batch.length === 1 || (err as Error).cause instanceof LockedError) {
        for (const item of batch) item.reject(err)
        return
      }
      await Promise.all(batch.map((item) => runTogether([item]).then(([value]) => item.resolve(value), item.reject)))
    }).finally(() => flushing.delete(done))
    flushing.add(done)
    return done
  }

  /** Open the file, configure it for several processes and create or migrate the tables. */
  async function open (): Promise<void> {
    file = configuredPath === ':memory:' ? configuredPath : resolve(process.cwd(), configuredPath)
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true })
    const opened = new Database(file)
    try {
      opened.pragma(`busy_timeout = ${SYNC_BUSY_WAIT_MS}`)
      await retryWhileLocked(() => opened.pragma('journal_mode = WAL'))
      opened.pragma('synchronous = NORMAL')
      await retryWhileLocked(() => migrate(opened))
      statements = prepareStatements(opened)
      db = opened
    } catch (err) {
      opened.close()
      throw err
    }
  }

  return {
    kind: 'sqlite',
    durable: true,

    async init () {
      if (db !== undefined) return
      opening ??= open().finally(() => { opening = undefined })
      try {
        await opening
      } catch (err) {
        throw storeUnavailable(err)
      }
    },

    async close () {
      // Writes already issued are committed (or fail) before the file closes.
      await flush()
      await Promise.all(flushing)
      const open = db
      db = undefined
      statements = undefined
      open?.close()
    },

    async ensureTasks (names, firstSeen) {
      return write((sql) => {
        const states = new Map<string, TaskState>()
        for (const name of names) {
          sql.insertTask.run(name, firstSeen.getTime())
          const row = sql.selectTask.get(name)
          if (row === undefined) continue
          const state: TaskState = { firstSeen: new Date(row.first_seen) }
          if (row.last_occurrence !== null) state.lastOccurrence = new Date(row.last_occurrence)
          if (row.retry_of !== null && row.retry_attempt !== null && row.retry_at !== null) {
            state.retry = { of: new Date(row.retry_of), attempt: row.retry_attempt, at: new Date(row.retry_at) }
          }
          states.set(name, state)
        }
        return states
      })
    },

    async startRun ({ run, claim, lease, historyLimit }) {
      const at = run.scheduledFor.getTime()
      return write((sql, tokens): StartRunResult => {
        if (claim !== 'none') {
          // The claim is made whatever happens next: an occurrence skipped for overlap is spent.
          const claimed = claim === 'occurrence'
            ? sql.claimOccurrence.run(at, run.task, at, at).changes === 1
            : sql.claimRetry.run(run.task, at, run.attempt).changes === 1
          if (!claimed) {
            const row = sql.selectTask.get(run.task)
            const stale = row === undefined || (claim === 'occurrence' && at < row.first_seen)
            return stale ? { outcome: 'stale' } : { outcome: 'claimed' }
          }
        }
        if (lease === undefined) {
          writeRun(sql, run, historyLimit)
          return { outcome: 'recorded' }
        }
        const expiresAt = lease.nowMs + lease.ttlMs
        let abandoned: { id: string } | undefined
        if (sql.takeFreeLease.run(lease.key, run.id, expiresAt).changes === 0) {
          const current = sql.selectLease.get(lease.key)!
          if (current.expires_at > lease.nowMs) {
            writeRun(sql, overlapRecord(run), historyLimit)
            return { outcome: 'overlap', holder: current.owner }
          }
          abandoned = sql.abandonRun.get({ id: current.owner, nowMs: lease.nowMs, reason: TAKEOVER_REASON }) as { id: string } | undefined
          sql.upsertLease.run(lease.key, run.id, expiresAt)
        }
        writeRun(sql, run, historyLimit)
        const leaseToken = tokens.next()
        return abandoned === undefined
          ? { outcome: 'started', leaseToken }
          : { outcome: 'started', leaseToken, abandoned: abandoned.id }
      })
    },

    async renewLease (key, owner, ttlMs, nowMs) {
      return write((sql) => sql.renewLease.run(nowMs + ttlMs, key, owner).changes === 1)
    },

    async releaseLease (key, owner) {
      return write((sql) => sql.releaseLease.run(key, owner).changes === 1)
    },

    async finishRun (run, { leaseKey, historyLimit, retry }) {
      await write((sql) => {
        writeRun(sql, run, historyLimit, true)
        if (leaseKey !== undefined) sql.releaseLease.run(leaseKey, run.id)
        if (retry !== undefined) sql.setRetry.run(...retryParams(retry), run.task)
      })
    },

    async abandonExpired (nowMs, reason) {
      return write((sql) => {
        const changed = sql.abandonExpired.all({ nowMs, reason }).map(runFromStored)
        sql.deleteExpiredLeases.run(nowMs)
        return changed
      })
    },

    async scheduleRetry (task, retry) {
      await write((sql) => sql.setRetry.run(...retryParams(retry), task))
    },

    async heartbeat (tick) {
      const read = (sql: Statements): ClusterState => {
        const retries: TaskRetry[] = sql.selectRetries.all().map((row) => ({
          task: row.task, of: new Date(row.retry_of), attempt: row.retry_attempt, at: new Date(row.retry_at)
        }))
        const last = sql.selectLastTick.get()
        return last === undefined ? { retries } : { lastTick: new Date(last.at), retries }
      }
      if (tick === undefined) return use((db, sql) => db.transaction(() => read(sql))())
      const at = tick.at.getTime()
      return write((sql) => {
        sql.recordTick.run(String(at))
        return read(sql)
      })
    },

    async listRuns (query) {
      const conditions: string[] = []
      const params: Array<string | number> = []
      if (query.task !== undefined) {
        conditions.push(`task IN (${placeholders(query.task.length)})`)
        params.push(...query.task)
      }
      if (query.status !== undefined) {
        conditions.push(`status IN (${placeholders(query.status.length)})`)
        params.push(...query.status)
      }
      const where = conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`
      const { limit, offset } = pageOfRuns(query)
      return use((db) => db.transaction(() => {
        const { total } = db.prepare<unknown[], { total: number }>(
          `SELECT count(*) AS total FROM fastify_scheduler_runs ${where}`).get(...params) as { total: number }
        const rows = db.prepare<unknown[], StoredRun>(
          `SELECT ${RUN_COLUMNS} FROM fastify_scheduler_runs ${where} ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?`
        ).all(...params, limit, offset)
        return { runs: rows.map(runFromStored), total }
      })())
    },

    async recentRuns (names, limit) {
      const keep = Math.max(0, Math.floor(limit))
      return use((db, sql) => db.transaction(() => {
        const newest = new Map<string, RunRecord[]>()
        if (keep === 0) return newest
        for (const name of names) {
          const rows = sql.recentRuns.all(name, keep)
          if (rows.length > 0) newest.set(name, rows.map(runFromStored))
        }
        return newest
      })())
    }
  }
}
