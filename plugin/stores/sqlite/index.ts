/**
 * The SQLite store, the default: one file, durable, safe for several processes on one host.
 * The contract is `docs/ARCHITECTURE.md#the-store-contract`; the faults it survives,
 * `docs/ARCHITECTURE.md#the-fault-model`. This file holds the contract's steps; the schema
 * is the migration list in `migrations.ts`; opening the file, noticing it replaced, group
 * commit and waiting for the write lock are `connection.ts`.
 *
 * WAL mode lets readers and one writer proceed together. Every write runs inside a
 * `BEGIN IMMEDIATE` transaction (a batch of the calls issued in one event-loop turn), which
 * takes the write lock before it reads, so each condition is checked under the lock:
 * - `startRun`: a conditional UPDATE claims the occurrence (row present, not before
 *   first_seen, not yet claimed; clears the pending retry; last_attempt = 1) or the retry
 *   (last_attempt = its attempt); the lease is taken with INSERT … ON CONFLICT DO NOTHING,
 *   and only when a row is there is it read: held → the `skipped` record; expired → its
 *   holder's `running` record set `abandoned` and the lease overwritten; then the `running`
 *   record, the next fencing token (the `lease_token` meta row, read once per transaction,
 *   counted in memory and written back before the commit) and pruning (the cutoff row found
 *   by OFFSET, older rows deleted). A refused claim reads the task row to tell `stale` from
 *   `claimed` and writes nothing.
 * - `finishRun`: an upsert of the final record that leaves a settled status as it is, the
 *   lease released if the run still holds it, prune; then the retry fences of
 *   `docs/ARCHITECTURE.md#late-results`, as conditions of two UPDATEs of the task row
 *   (`last_occurrence` = the run's occurrence, `COALESCE(last_attempt, attempt)` = its attempt).
 * - `abandonExpired`: UPDATE … RETURNING flips the `running` records of expired leases to
 *   `abandoned`, then those leases are deleted.
 * Overlap policies (docs/OVERLAP.md): the buffered run is a nullable column of the task row,
 * set and cleared by conditional UPDATEs inside `startRun`; a lease's `superseded` mark is
 * reset when the lease is taken over, and `renewLease` reads it back with RETURNING.
 * Pending retries are nullable columns of the task row; the cluster's last tick is a meta
 * row that only grows. Instants are integer milliseconds since the epoch (UTC). SQLite shares
 * the host's clock: no `time()`.
 */
import type Database from 'better-sqlite3'
import { InvalidOptionError, StoreOpenError, storeUnavailable } from '../../../core/errors.js'
import { parseTimerDuration } from '../../../tasks/duration.js'
import { RUN_COLUMNS, runFromStored, type StoredRun } from '../driver.js'
import { backfillFromStored, bufferedRecord, overlapRecord, pageOfRuns, pauseFromStored, SETTLED_STATUSES, TAKEOVER_REASON, type StoredBackfill, type StoredPause } from '../history.js'
import type { ClusterState, PendingRetry, RunRecord, StartRunResult, Store, TaskRetry, TaskState } from '../store.js'
import { CONNECTION_STATS, SqliteConnection } from './connection.js'
import { migrate } from './migrations.js'

export interface SqliteStoreOptions {
  /**
   * Database file, resolved against `process.cwd()` when the store opens.
   * Default `./.fastify-scheduler.sqlite`. `':memory:'` keeps everything in this process.
   */
  path?: string
  /**
   * How long a call waits while another process holds the write lock, before it fails with
   * FST_SCHEDULER_STORE_UNAVAILABLE: ms, or a duration string such as `'5 seconds'` or
   * `'500 ms'`. Default 5000. The wait is asynchronous: the event loop keeps running.
   */
  busyTimeout?: number | string
}

export const DEFAULT_SQLITE_PATH = './.fastify-scheduler.sqlite'
const DEFAULT_BUSY_TIMEOUT_MS = 5000
const SETTLED_LIST = SETTLED_STATUSES.map((status) => `'${status}'`).join(', ')

/** `?, ?, ?` for a list of n bound values. */
function placeholders (n: number): string {
  return Array.from({ length: n }, () => '?').join(', ')
}

/** Every statement the store runs, prepared once per opened file. */
function prepareStatements (db: Database.Database) {
  const abandonSet = "status = 'abandoned', finished_at = @nowMs, duration_ms = max(0, @nowMs - started_at), error = @reason"
  return {
    insertTask: db.prepare('INSERT INTO fastify_scheduler_tasks (task, first_seen) VALUES (?, ?) ON CONFLICT (task) DO NOTHING'),
    selectTask: db.prepare<[string], {
      first_seen: number, last_occurrence: number | null, retry_of: number | null, retry_attempt: number | null, retry_at: number | null
    }>('SELECT first_seen, last_occurrence, retry_of, retry_attempt, retry_at FROM fastify_scheduler_tasks WHERE task = ?'),
    /** Claim the occurrence `at` if it is owed: the row exists, `at` is not before first_seen nor already claimed. */
    claimOccurrence: db.prepare<[number, string, number, number]>(`
      UPDATE fastify_scheduler_tasks SET last_occurrence = ?, last_attempt = 1, retry_of = NULL, retry_attempt = NULL, retry_at = NULL
      WHERE task = ? AND first_seen <= ? AND (last_occurrence IS NULL OR last_occurrence < ?)`),
    /** Claim the pending retry (of, attempt): it becomes the newest attempt of its occurrence. */
    claimRetry: db.prepare<[number, string, number, number]>(`
      UPDATE fastify_scheduler_tasks SET retry_of = NULL, retry_attempt = NULL, retry_at = NULL, last_attempt = ?
      WHERE task = ? AND retry_of = ? AND retry_attempt = ?`),
    /**
     * Set the pending retry, fenced to the newest attempt of the task's last occurrence
     * (a NULL last_attempt, written before schema 3, lets it pass): task, occurrence, attempt.
     */
    setRetryFenced: db.prepare<{ task: string, of: number, attempt: number, retryOf: number, retryAttempt: number, retryAt: number }>(`
      UPDATE fastify_scheduler_tasks SET retry_of = @retryOf, retry_attempt = @retryAttempt, retry_at = @retryAt
      WHERE task = @task AND last_occurrence = @of AND COALESCE(last_attempt, @attempt) = @attempt`),
    /** A success cancels the pending retry of its own occurrence, while that is still the last one. */
    cancelRetry: db.prepare<[string, number, number]>(`
      UPDATE fastify_scheduler_tasks SET retry_of = NULL, retry_attempt = NULL, retry_at = NULL
      WHERE task = ? AND last_occurrence = ? AND retry_of = ?`),
    isAbandoned: db.prepare<[string], { found: number }>("SELECT 1 AS found FROM fastify_scheduler_runs WHERE id = ? AND status = 'abandoned'"),
    /** Rebase one task: first seen again, its pending retry dropped, its last occurrence kept. */
    rebaseTask: db.prepare<[string, number]>(`
      INSERT INTO fastify_scheduler_tasks (task, first_seen) VALUES (?, ?)
      ON CONFLICT (task) DO UPDATE SET first_seen = excluded.first_seen, retry_of = NULL, retry_attempt = NULL, retry_at = NULL`),
    selectLease: db.prepare<[string], { owner: string, expires_at: number }>(
      'SELECT owner, expires_at FROM fastify_scheduler_leases WHERE key = ?'),
    takeFreeLease: db.prepare('INSERT INTO fastify_scheduler_leases (key, owner, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING'),
    upsertLease: db.prepare(`
      INSERT INTO fastify_scheduler_leases (key, owner, expires_at) VALUES (?, ?, ?)
      ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at, superseded = 0`),
    renewLease: db.prepare<[number, string, string], { superseded: number }>(
      'UPDATE fastify_scheduler_leases SET expires_at = ? WHERE key = ? AND owner = ? RETURNING superseded'),
    /** Overlap policies (docs/OVERLAP.md): buffer the occurrence unless one is buffered already: at, task. */
    setBuffered: db.prepare<[number, string]>('UPDATE fastify_scheduler_tasks SET buffered = ? WHERE task = ? AND buffered IS NULL'),
    /** Claim the buffered run of occurrence `at`: task, at. */
    claimBuffered: db.prepare<[string, number]>('UPDATE fastify_scheduler_tasks SET buffered = NULL WHERE task = ? AND buffered = ?'),
    isBuffered: db.prepare<[string, number], { found: number }>('SELECT 1 AS found FROM fastify_scheduler_tasks WHERE task = ? AND buffered = ?'),
    supersedeLease: db.prepare<[string]>('UPDATE fastify_scheduler_leases SET superseded = 1 WHERE key = ?'),
    selectBuffered: db.prepare<[], { task: string, buffered: number }>(
      'SELECT task, buffered FROM fastify_scheduler_tasks WHERE buffered IS NOT NULL ORDER BY task'),
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
    /** A claimOnce key, unless it is already there. */
    insertClaim: db.prepare<[string, number]>('INSERT INTO fastify_scheduler_claims (key, until_ms) VALUES (?, ?) ON CONFLICT (key) DO NOTHING'),
    /** Claims whose time is over (the host's clock: SQLite shares it). */
    pruneClaims: db.prepare<[number]>('DELETE FROM fastify_scheduler_claims WHERE until_ms < ?'),
    /** Insert or replace a record (bound by `runRow`); with `settledKept` = 1 a stored settled record is left as it is. */
    upsertRun: db.prepare(`
      INSERT INTO fastify_scheduler_runs
        (id, task, scheduled_for, trigger, started_at, finished_at, duration_ms, status, error, stack, attempt, forced, instance,
         output, covers_from, covers_to, covers_count, payload)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET
        task = excluded.task, scheduled_for = excluded.scheduled_for, trigger = excluded.trigger,
        started_at = excluded.started_at, finished_at = excluded.finished_at, duration_ms = excluded.duration_ms,
        status = excluded.status, error = excluded.error, stack = excluded.stack,
        attempt = excluded.attempt, forced = excluded.forced, instance = excluded.instance,
        output = excluded.output, covers_from = excluded.covers_from, covers_to = excluded.covers_to, covers_count = excluded.covers_count, payload = excluded.payload
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
    /** The pause that stops a task: the pause of everything first, then the task's own. */
    selectPauseOf: db.prepare<[string], StoredPause>(
      "SELECT task, since, reason, paused_by FROM fastify_scheduler_pauses WHERE task IN ('', ?) ORDER BY task LIMIT 1"),
    selectPause: db.prepare<[string], StoredPause>('SELECT task, since, reason, paused_by FROM fastify_scheduler_pauses WHERE task = ?'),
    selectPauses: db.prepare<[], StoredPause>('SELECT task, since, reason, paused_by FROM fastify_scheduler_pauses ORDER BY task'),
    insertPause: db.prepare('INSERT INTO fastify_scheduler_pauses (task, since, reason, paused_by) VALUES (?, ?, ?, ?) ON CONFLICT (task) DO NOTHING'),
    deletePause: db.prepare<[string], StoredPause>('DELETE FROM fastify_scheduler_pauses WHERE task = ? RETURNING task, since, reason, paused_by'),
    selectBackfills: db.prepare<[], StoredBackfill>(
      `SELECT ${BACKFILL_COLUMNS} FROM fastify_scheduler_backfills WHERE next_ms IS NOT NULL ORDER BY created_at, id`),
    selectPendingBackfill: db.prepare<[string, number, number], StoredBackfill>(
      `SELECT ${BACKFILL_COLUMNS} FROM fastify_scheduler_backfills WHERE task = ? AND from_ms = ? AND to_ms = ? AND next_ms IS NOT NULL LIMIT 1`),
    insertBackfill: db.prepare<[string, string, number, number, number, number, number]>(
      'INSERT INTO fastify_scheduler_backfills (id, task, from_ms, to_ms, total, next_ms, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    selectBackfillAt: db.prepare<[string, number], { id: string }>('SELECT id FROM fastify_scheduler_backfills WHERE id = ? AND next_ms = ?'),
    moveBackfill: db.prepare<[number | null, number, number, string]>(
      'UPDATE fastify_scheduler_backfills SET next_ms = ?, done = done + ?, skipped = skipped + ? WHERE id = ?'),
    hasOccurrenceRun: db.prepare<[string, number], { one: number }>(
      'SELECT 1 AS one FROM fastify_scheduler_runs WHERE task = ? AND scheduled_for = ? AND forced = 0 LIMIT 1'),
    recentRuns: db.prepare<[string, number], StoredRun>(
      `SELECT ${RUN_COLUMNS} FROM fastify_scheduler_runs WHERE task = ? ORDER BY started_at DESC, id DESC LIMIT ?`)
  }
}

type Statements = ReturnType<typeof prepareStatements>

const BACKFILL_COLUMNS = 'id, task, from_ms, to_ms, total, next_ms, done, skipped, created_at'

/**
 * The fencing counter within one transaction: read once, counted in memory, written back
 * before the commit. The write lock is held throughout, so no other process can take a
 * token in between, and a rollback discards the tokens with everything else.
 */
function leaseTokens (sql: Statements) {
  let last: number | undefined
  const current = (): number => last ?? sql.selectLeaseToken.get()?.token ?? 0
  return {
    /** The counter as this transaction leaves it: the largest token handed out so far, 0 before the first. */
    current,
    next (): number {
      last = current() + 1
      return last
    },
    /** Never hand out `fence` or less again (`rebase`). */
    raise (fence: number): void {
      last = Math.max(current(), Math.floor(fence))
    },
    save (): void {
      if (last !== undefined) sql.saveLeaseToken.run(String(last))
    }
  }
}

type LeaseTokens = ReturnType<typeof leaseTokens>

/**
 * A run as `upsertRun`'s positional parameters: instants in ms, `forced` as 0/1 (SQLite has
 * no booleans), unset fields null. Positional rather than `runToStored`'s named object: on
 * startRun's hot path better-sqlite3 binds an array in about half the time.
 */
function runRow (run: RunRecord, settledKept: boolean): unknown[] {
  return [
    run.id, run.task, run.scheduledFor.getTime(), run.trigger, run.startedAt.getTime(), run.finishedAt?.getTime() ?? null,
    run.durationMs ?? null, run.status, run.error ?? null, run.stack ?? null, run.attempt, run.forced ? 1 : 0, run.instance ?? null,
    run.output ?? null, run.covers?.from.getTime() ?? null, run.covers?.to.getTime() ?? null, run.covers?.count ?? null,
    run.payload ?? null, settledKept ? 1 : 0
  ]
}

/** Write a record (keeping a settled one when `settledKept`) and prune the task's history; true if written. */
function writeRun (sql: Statements, run: RunRecord, historyLimit: number, settledKept = false): boolean {
  if (sql.upsertRun.run(runRow(run, settledKept)).changes === 0) return false
  const cutoff = sql.pruneCutoff.get(run.task, Math.max(0, Math.floor(historyLimit)))
  if (cutoff !== undefined) sql.pruneRuns.run(run.task, cutoff.started_at, cutoff.started_at, cutoff.id)
  return true
}

/** Set `retry` as the task's pending retry if `run` is the newest attempt of the task's last occurrence; true if set. */
function setRetryFenced (sql: Statements, run: RunRecord, retry: PendingRetry): boolean {
  return sql.setRetryFenced.run({
    task: run.task,
    of: run.scheduledFor.getTime(),
    attempt: run.attempt,
    retryOf: retry.of.getTime(),
    retryAttempt: retry.attempt,
    retryAt: retry.at.getTime()
  }).changes === 1
}

/** The state of each named task, as `ensureTasks` and `rebase` return it. */
function taskStates (sql: Statements, names: readonly string[]): Map<string, TaskState> {
  const states = new Map<string, TaskState>()
  for (const name of names) {
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
}

function checkBusyTimeout (value: unknown): number {
  if (value === undefined) return DEFAULT_BUSY_TIMEOUT_MS
  try {
    return parseTimerDuration(value, 'sqliteStore: busyTimeout')
  } catch (err) {
    throw new InvalidOptionError(`${(err as Error).message} (default 5000)`)
  }
}

export function sqliteStore (options: SqliteStoreOptions = {}): Store {
  const configuredPath = options.path ?? DEFAULT_SQLITE_PATH
  if (typeof configuredPath !== 'string' || configuredPath === '') {
    throw new InvalidOptionError('sqliteStore: path must be a file path (default "./.fastify-scheduler.sqlite")')
  }
  const connection = new SqliteConnection<Statements, LeaseTokens>(configuredPath, checkBusyTimeout(options.busyTimeout), {
    migrate: (db) => migrate(db),
    prepare: prepareStatements,
    newBatch: leaseTokens,
    saveBatch: (tokens) => tokens.save()
  })
  const write = connection.write.bind(connection)
  const read = connection.read.bind(connection)

  /** The cluster state; `fence` from the batch's counter, which counts tokens this batch handed out before it. */
  const readCluster = (sql: Statements, fence: number): ClusterState => {
    const retries: TaskRetry[] = sql.selectRetries.all().map((row) => ({
      task: row.task, of: new Date(row.retry_of), attempt: row.retry_attempt, at: new Date(row.retry_at)
    }))
    const buffered = sql.selectBuffered.all().map((row) => ({ task: row.task, of: new Date(row.buffered) }))
    const last = sql.selectLastTick.get()
    const paused = sql.selectPauses.all().map(pauseFromStored)
    const backfills = sql.selectBackfills.all().map(backfillFromStored)
    return last === undefined ? { retries, fence, buffered, paused, backfills } : { lastTick: new Date(last.at), retries, fence, buffered, paused, backfills }
  }

  const store: Store = {
    kind: 'sqlite',
    durable: true,

    async init () {
      try {
        await connection.open()
      } catch (err) {
        // A path that cannot be opened is a configuration error, named as such; a lock held too long is an outage.
        throw err instanceof StoreOpenError ? err : storeUnavailable(err)
      }
    },

    async close () {
      // Writes already issued are committed (or fail) before the file closes.
      await connection.close()
    },

    async ensureTasks (names, firstSeen) {
      return write((sql) => {
        for (const name of names) sql.insertTask.run(name, firstSeen.getTime())
        return taskStates(sql, names)
      })
    },

    async startRun ({ run, claim, lease, historyLimit, overlap, backfill }) {
      const at = run.scheduledFor.getTime()
      return write((sql, tokens): StartRunResult => {
        if (claim !== 'none') {
          const pause = sql.selectPauseOf.get(run.task)
          if (pause !== undefined) return { outcome: 'paused', pause: pauseFromStored(pause) }
        }
        if (claim === 'backfill') {
          if (backfill === undefined || sql.selectBackfillAt.get(backfill.id, at) === undefined) return { outcome: 'claimed' }
          const nextMs = backfill.next?.getTime() ?? null
          if (sql.hasOccurrenceRun.get(run.task, at) !== undefined) {
            sql.moveBackfill.run(nextMs, 0, 1, backfill.id)
            return { outcome: 'claimed' }
          }
          const held = lease === undefined ? undefined : sql.selectLease.get(lease.key)
          if (held !== undefined && held.expires_at > lease!.nowMs) return { outcome: 'busy', holder: held.owner }
          sql.moveBackfill.run(nextMs, 1, 0, backfill.id)
        } else if (claim === 'buffer') {
          if (sql.isBuffered.get(run.task, at) === undefined) return { outcome: 'claimed' }
          const held = lease === undefined ? undefined : sql.selectLease.get(lease.key)
          if (held !== undefined && held.expires_at > lease!.nowMs) return { outcome: 'busy', holder: held.owner }
          sql.claimBuffered.run(run.task, at)
        } else if (claim !== 'none') {
          // The claim is made whatever happens next: an occurrence skipped for overlap is spent.
          const claimed = claim === 'occurrence'
            ? sql.claimOccurrence.run(at, run.task, at, at).changes === 1
            : sql.claimRetry.run(run.attempt, run.task, at, run.attempt).changes === 1
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
            if (overlap !== undefined && claim === 'occurrence' && sql.setBuffered.run(at, run.task).changes === 1) {
              if (overlap === 'cancelOther') sql.supersedeLease.run(lease.key)
              writeRun(sql, bufferedRecord(run), historyLimit)
              return { outcome: 'buffered', holder: current.owner }
            }
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
      return write((sql) => {
        const row = sql.renewLease.get(nowMs + ttlMs, key, owner)
        return row === undefined ? false : row.superseded === 1 ? 'superseded' : true
      })
    },

    async releaseLease (key, owner) {
      return write((sql) => sql.releaseLease.run(key, owner).changes === 1)
    },

    async finishRun (run, { leaseKey, historyLimit, retry }) {
      await write((sql) => {
        writeRun(sql, run, historyLimit, true)
        if (leaseKey !== undefined) sql.releaseLease.run(leaseKey, run.id)
        // Late results never cause a second run (docs/ARCHITECTURE.md#late-results): forced runs
        // touch no retry; the fences are conditions of the UPDATEs.
        if (run.forced) return
        if (retry !== undefined) setRetryFenced(sql, run, retry)
        if (run.status === 'succeeded') sql.cancelRetry.run(run.task, run.scheduledFor.getTime(), run.scheduledFor.getTime())
      })
    },

    async abandonExpired (nowMs, reason) {
      return write((sql) => {
        const changed = sql.abandonExpired.all({ nowMs, reason }).map(runFromStored)
        sql.deleteExpiredLeases.run(nowMs)
        return changed
      })
    },

    async retryAbandoned (run, retry) {
      return write((sql) => !run.forced && sql.isAbandoned.get(run.id) !== undefined && setRetryFenced(sql, run, retry))
    },

    async heartbeat (tick) {
      if (tick === undefined) return read((db, sql) => db.transaction(() => readCluster(sql, sql.selectLeaseToken.get()?.token ?? 0))())
      const at = tick.at.getTime()
      return write((sql, tokens) => {
        sql.recordTick.run(String(at))
        return readCluster(sql, tokens.current())
      })
    },

    async rebase (names, firstSeen, fence) {
      return write((sql, tokens) => {
        for (const name of names) sql.rebaseTask.run(name, firstSeen.getTime())
        tokens.raise(fence)
        return taskStates(sql, names)
      })
    },

    async claimOnce (key, until) {
      return write((sql) => {
        sql.pruneClaims.run(Date.now())
        return sql.insertClaim.run(key, until.getTime()).changes === 1
      })
    },

    async createBackfill ({ id, task, from, to, total, next, createdAt }) {
      return write((sql) => {
        const existing = sql.selectPendingBackfill.get(task, from.getTime(), to.getTime())
        if (existing !== undefined) return backfillFromStored(existing)
        sql.insertBackfill.run(id, task, from.getTime(), to.getTime(), total, next.getTime(), createdAt.getTime())
        return { id, task, from, to, total, next, done: 0, skipped: 0, createdAt }
      })
    },

    async pause ({ task, since, reason, by }) {
      return write((sql) => {
        sql.insertPause.run(task ?? '', since.getTime(), reason ?? null, by ?? null)
        return pauseFromStored(sql.selectPause.get(task ?? '')!)
      })
    },

    async resume ({ task, skip = [], historyLimit }) {
      return write((sql) => {
        const lifted = sql.deletePause.get(task ?? '')
        if (lifted === undefined) return undefined
        for (const run of skip) {
          const at = run.scheduledFor.getTime()
          if (sql.claimOccurrence.run(at, run.task, at, at).changes === 1) writeRun(sql, run, historyLimit)
        }
        return pauseFromStored(lifted)
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
      return read((db) => db.transaction(() => {
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
      return read((db, sql) => db.transaction(() => {
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
  // What the connection measured (its synchronous sections, its lock timers), for tests.
  Object.defineProperty(store, CONNECTION_STATS, { value: connection.stats })
  return store
}
