/**
 * The SQLite store, the default: one file, durable, safe for several processes on one host.
 *
 * WAL mode lets readers and one writer proceed together; `busy_timeout` makes a process wait
 * for another's write lock instead of failing. Every write is either one statement (a write
 * statement takes the write lock before it reads, so its condition is checked under the lock)
 * or runs in a `BEGIN IMMEDIATE` transaction (which takes the write lock up front). Instants
 * are stored as integer milliseconds since the epoch (UTC).
 */
import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import Database from 'better-sqlite3'
import { InvalidOptionError, storeUnavailable } from '../errors.js'
import { RUN_COLUMNS, runFromStored, runToStored, withStoreErrors, type StoredRun } from './driver.js'
import { pageOfRuns } from './history.js'
import type { ExpiredLease, RunRecord, Store, TaskState } from './store.js'

export interface SqliteStoreOptions {
  /**
   * Database file, resolved against `process.cwd()` when the store opens.
   * Default `./.fastify-scheduler.sqlite`. `':memory:'` keeps everything in this process.
   */
  path?: string
}

export const DEFAULT_SQLITE_PATH = './.fastify-scheduler.sqlite'
const SCHEMA_VERSION = 1
const BUSY_TIMEOUT_MS = 5000

const SCHEMA = `
CREATE TABLE IF NOT EXISTS fastify_scheduler_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fastify_scheduler_tasks (
  task TEXT PRIMARY KEY,
  first_seen INTEGER NOT NULL,
  last_occurrence INTEGER
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
  stack TEXT
);
CREATE INDEX IF NOT EXISTS fastify_scheduler_runs_task ON fastify_scheduler_runs (task, started_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS fastify_scheduler_runs_started ON fastify_scheduler_runs (started_at DESC, id DESC);
`

/** `?, ?, ?` for a list of n bound values. */
function placeholders (n: number): string {
  return Array.from({ length: n }, () => '?').join(', ')
}

/** Open the file, configure it for several processes and create the tables if missing. */
function openDatabase (file: string): Database.Database {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true })
  const db = new Database(file)
  try {
    // busy_timeout first: switching to WAL and creating tables may wait on another process.
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
    db.transaction(() => {
      db.exec(SCHEMA)
      db.prepare('INSERT INTO fastify_scheduler_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING')
        .run('schema_version', String(SCHEMA_VERSION))
    }).immediate()
    return db
  } catch (err) {
    db.close()
    throw err
  }
}

/** Every statement the store runs, prepared once per open database. */
function prepareStatements (db: Database.Database) {
  return {
    insertTask: db.prepare('INSERT INTO fastify_scheduler_tasks (task, first_seen) VALUES (?, ?) ON CONFLICT (task) DO NOTHING'),
    selectTask: db.prepare<[string], { first_seen: number, last_occurrence: number | null }>(
      'SELECT first_seen, last_occurrence FROM fastify_scheduler_tasks WHERE task = ?'),
    claim: db.prepare(`
      INSERT INTO fastify_scheduler_tasks (task, first_seen, last_occurrence) VALUES (?, ?, ?)
      ON CONFLICT (task) DO UPDATE SET last_occurrence = excluded.last_occurrence
      WHERE last_occurrence IS NULL OR last_occurrence < excluded.last_occurrence`),
    selectLease: db.prepare<[string], { owner: string, expires_at: number }>(
      'SELECT owner, expires_at FROM fastify_scheduler_leases WHERE key = ?'),
    upsertLease: db.prepare(`
      INSERT INTO fastify_scheduler_leases (key, owner, expires_at) VALUES (?, ?, ?)
      ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at`),
    renewLease: db.prepare(
      'UPDATE fastify_scheduler_leases SET expires_at = ? WHERE key = ? AND owner = ? AND expires_at > ?'),
    releaseLease: db.prepare('DELETE FROM fastify_scheduler_leases WHERE key = ? AND owner = ?'),
    reapLeases: db.prepare<[number], ExpiredLease>(
      'DELETE FROM fastify_scheduler_leases WHERE expires_at <= ? RETURNING key, owner'),
    upsertRun: db.prepare(`
      INSERT INTO fastify_scheduler_runs
        (id, task, scheduled_for, trigger, started_at, finished_at, duration_ms, status, error, stack)
      VALUES (@id, @task, @scheduledFor, @trigger, @startedAt, @finishedAt, @durationMs, @status, @error, @stack)
      ON CONFLICT (id) DO UPDATE SET
        task = excluded.task, scheduled_for = excluded.scheduled_for, trigger = excluded.trigger,
        started_at = excluded.started_at, finished_at = excluded.finished_at, duration_ms = excluded.duration_ms,
        status = excluded.status, error = excluded.error, stack = excluded.stack`),
    pruneRuns: db.prepare(`
      DELETE FROM fastify_scheduler_runs WHERE status <> 'running' AND id IN (
        SELECT id FROM fastify_scheduler_runs WHERE task = ? ORDER BY started_at DESC, id DESC LIMIT -1 OFFSET ?)`),
    markAbandoned: db.prepare(
      "UPDATE fastify_scheduler_runs SET status = 'abandoned', finished_at = ? WHERE id = ? AND status = 'running'"),
    lastRun: db.prepare<[string], StoredRun>(
      `SELECT ${RUN_COLUMNS} FROM fastify_scheduler_runs WHERE task = ? ORDER BY started_at DESC, id DESC LIMIT 1`)
  }
}

export function sqliteStore (options: SqliteStoreOptions = {}): Store {
  const configuredPath = options.path ?? DEFAULT_SQLITE_PATH
  if (typeof configuredPath !== 'string' || configuredPath === '') {
    throw new InvalidOptionError('sqliteStore: path must be a file path (default "./.fastify-scheduler.sqlite")')
  }
  let db: Database.Database | undefined
  let statements: ReturnType<typeof prepareStatements> | undefined

  /** Run `fn` against the open database, turning any driver error into the coded store error. */
  async function use<T> (fn: (db: Database.Database, sql: ReturnType<typeof prepareStatements>) => T): Promise<T> {
    return await withStoreErrors(() => {
      if (db === undefined || statements === undefined) {
        throw new Error('the SQLite store is not open (init() not called, or closed)')
      }
      return fn(db, statements)
    })
  }

  return {
    kind: 'sqlite',
    durable: true,

    async init () {
      if (db !== undefined) return
      const file = configuredPath === ':memory:' ? configuredPath : resolve(process.cwd(), configuredPath)
      try {
        db = openDatabase(file)
        statements = prepareStatements(db)
      } catch (err) {
        db = undefined
        throw storeUnavailable(err)
      }
    },

    async close () {
      const open = db
      db = undefined
      statements = undefined
      open?.close()
    },

    async ensureTasks (names, firstSeen) {
      return use((db, sql) => db.transaction(() => {
        const states = new Map<string, TaskState>()
        for (const name of names) {
          sql.insertTask.run(name, firstSeen.getTime())
          const row = sql.selectTask.get(name)
          if (row === undefined) continue
          const state: TaskState = { firstSeen: new Date(row.first_seen) }
          if (row.last_occurrence !== null) state.lastOccurrence = new Date(row.last_occurrence)
          states.set(name, state)
        }
        return states
      }).immediate())
    },

    async claimOccurrence (task, occurrence) {
      const at = occurrence.getTime()
      return use((_db, sql) => sql.claim.run(task, at, at).changes === 1)
    },

    async acquireLease (key, owner, ttlMs, nowMs) {
      return use((db, sql) => db.transaction(() => {
        const current = sql.selectLease.get(key)
        if (current !== undefined && current.expires_at > nowMs) return { acquired: false }
        sql.upsertLease.run(key, owner, nowMs + ttlMs)
        return current === undefined ? { acquired: true } : { acquired: true, expiredOwner: current.owner }
      }).immediate())
    },

    async renewLease (key, owner, ttlMs, nowMs) {
      return use((_db, sql) => sql.renewLease.run(nowMs + ttlMs, key, owner, nowMs).changes === 1)
    },

    async releaseLease (key, owner) {
      return use((_db, sql) => sql.releaseLease.run(key, owner).changes === 1)
    },

    async reapExpiredLeases (nowMs) {
      return use((db, sql) => db.transaction(() => sql.reapLeases.all(nowMs)).immediate())
    },

    async recordRun (run, historyLimit) {
      await use((db, sql) => db.transaction(() => {
        sql.upsertRun.run(runToStored(run, (date) => date.getTime()))
        sql.pruneRuns.run(run.task, Math.max(0, Math.floor(historyLimit)))
      }).immediate())
    },

    async markAbandoned (runId, finishedAt) {
      return use((_db, sql) => sql.markAbandoned.run(finishedAt.getTime(), runId).changes === 1)
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

    async lastRuns (names) {
      return use((_db, sql) => {
        const newest = new Map<string, RunRecord>()
        for (const name of names) {
          const row = sql.lastRun.get(name)
          if (row !== undefined) newest.set(name, runFromStored(row))
        }
        return newest
      })
    }
  }
}
