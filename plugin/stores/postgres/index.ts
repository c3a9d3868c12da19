/**
 * The PostgreSQL store (pg): the contract methods. Every method but `init` and
 * `ensureTasks` is ONE statement (`statements.ts`), so one round trip, and atomic without an
 * explicit transaction; `init` applies the schema's migrations (`migrations.ts`) in one
 * transaction; talking to the server (pool, deadlines, dead connections, prepared
 * statements) is `connection.ts`. The design is in `docs/ARCHITECTURE.md#the-store-contract`,
 * the faults in `docs/ARCHITECTURE.md#the-fault-model`.
 */
import type pg from 'pg'
import { parseTimerDuration } from '../../../tasks/duration.js'
import { InvalidOptionError } from '../../../core/errors.js'
import { RUN_COLUMNS, RUN_CORE_COUNT, RUN_FIELDS, runFromStored, runToStored, type StoredRun } from '../driver.js'
import { backfillFromStored, BUFFERED_REASON, pageOfRuns, pauseFromStored, TAKEOVER_REASON, type StoredBackfill, type StoredPause } from '../history.js'
import type { PendingRetry, RunRecord, StartRunRequest, StartRunResult, Store, TaskState } from '../store.js'
import { connection, openPool } from './connection.js'
import { migrate } from './migrations.js'
import {
  abandonExpiredSql, finishRunSql, heartbeatSql, pauseSql, rebaseSql, RUN_INSERT_COLUMNS, retryAbandonedSql, startRunSql, tableNames, TASK_COLUMNS,
  type TableNames
} from './statements.js'

export interface PostgresStoreOptions {
  /**
   * A pool you manage: the store never ends it (give it an 'error' listener, as pg asks).
   * Its keepalive and idle timeout are yours to set; the store still discards a client
   * whose query timed out.
   */
  pool?: pg.Pool
  /**
   * Or a connection string the store opens its own pool with (and ends on close): TCP
   * keepalive on, idle connections closed after the timeout (at most 10 s).
   */
  connectionString?: string
  /** Schema of the tables, default `public`; created at init if missing. */
  schema?: string
  /** Prefix of the table names, default `fastify_scheduler_`. */
  tablePrefix?: string
  /**
   * How long a call may take before it fails with FST_SCHEDULER_STORE_UNAVAILABLE: the wait
   * for a connection and the query together. Milliseconds or a duration string
   * (`'5 seconds'`); default 5000.
   */
  timeout?: number | string
  /**
   * Prepare the long statements (start, finish) once per connection, default true: planning
   * them costs more than running them. Set false behind a pooler that cannot keep prepared
   * statements (PgBouncer in transaction mode before 1.21); left true there, the store falls
   * back to unnamed statements at the first lost statement and warns once.
   */
  prepare?: boolean
}

export const DEFAULT_POSTGRES_SCHEMA = 'public'
export const DEFAULT_TABLE_PREFIX = 'fastify_scheduler_'
export const DEFAULT_POSTGRES_TIMEOUT_MS = 5000
/** Postgres truncates longer identifiers; the longest name we derive is `<prefix>runs_started`. */
const MAX_IDENTIFIER_LENGTH = 63
/** `init` may wait behind another process migrating the schema: it gets this many timeouts. */
const INIT_TIMEOUTS = 3

function resolveTimeout (options: PostgresStoreOptions): number {
  if (options.timeout === undefined) return DEFAULT_POSTGRES_TIMEOUT_MS
  let timeout: number
  try {
    timeout = parseTimerDuration(options.timeout, 'postgresStore: timeout')
  } catch (err) {
    throw new InvalidOptionError((err as Error).message)
  }
  if (timeout < 1) throw new InvalidOptionError(`postgresStore: timeout ${String(options.timeout)}: must be at least 1 ms`)
  return Math.floor(timeout)
}

function resolvePool (options: PostgresStoreOptions, timeout: number): { pool: pg.Pool, owned: boolean } {
  if (options.pool !== undefined && options.connectionString !== undefined) {
    throw new InvalidOptionError('postgresStore: pass either pool or connectionString, not both')
  }
  if (options.pool !== undefined) return { pool: options.pool, owned: false }
  if (typeof options.connectionString !== 'string' || options.connectionString === '') {
    throw new InvalidOptionError('postgresStore: pass pool (a pg.Pool) or connectionString (e.g. "postgres://user@host:5432/db")')
  }
  return { pool: openPool(options.connectionString, timeout), owned: true }
}

function resolveNames (options: PostgresStoreOptions): TableNames {
  const schema = options.schema ?? DEFAULT_POSTGRES_SCHEMA
  const tablePrefix = options.tablePrefix ?? DEFAULT_TABLE_PREFIX
  if (typeof schema !== 'string' || schema === '' || schema.length > MAX_IDENTIFIER_LENGTH) {
    throw new InvalidOptionError(`postgresStore: schema must be a name of 1 to ${MAX_IDENTIFIER_LENGTH} characters`)
  }
  if (typeof tablePrefix !== 'string' || `${tablePrefix}runs_started`.length > MAX_IDENTIFIER_LENGTH) {
    throw new InvalidOptionError(`postgresStore: tablePrefix must be a string of at most ${MAX_IDENTIFIER_LENGTH - 'runs_started'.length} characters`)
  }
  return tableNames(schema, tablePrefix)
}

interface TaskRow {
  task: string
  first_seen: Date
  last_occurrence: Date | null
  retry_of: Date | null
  retry_attempt: number | null
  retry_at: Date | null
}

function retryOf (row: Pick<TaskRow, 'retry_of' | 'retry_attempt' | 'retry_at'>): PendingRetry | undefined {
  if (row.retry_of === null || row.retry_attempt === null || row.retry_at === null) return undefined
  return { of: row.retry_of, attempt: row.retry_attempt, at: row.retry_at }
}

/** Task rows as `ensureTasks` and `rebase` return them. */
function taskStates (rows: Array<TaskRow | Partial<TaskRow>>): Map<string, TaskState> {
  const states = new Map<string, TaskState>()
  for (const row of rows) {
    if (row.task == null) continue
    const state: TaskState = { firstSeen: row.first_seen! }
    if (row.last_occurrence != null) state.lastOccurrence = row.last_occurrence
    const retry = retryOf(row as TaskRow)
    if (retry !== undefined) state.retry = retry
    states.set(row.task, state)
  }
  return states
}

/** The run's first 13 stored fields, `$1..$13` of every statement that writes a run. */
function runParams (run: RunRecord): unknown[] {
  const stored = runToStored(run, (date) => date)
  return RUN_FIELDS.slice(0, RUN_CORE_COUNT).map((field) => stored[field])
}

/** The fields added by migration 7 (output, covers), the last 4 parameters of those statements. */
function runExtraParams (run: RunRecord): unknown[] {
  const stored = runToStored(run, (date) => date)
  return RUN_FIELDS.slice(RUN_CORE_COUNT).map((field) => stored[field])
}

const BACKFILL_COLUMNS = `id, task, round(extract(epoch FROM from_at) * 1000)::bigint AS from_ms, round(extract(epoch FROM to_at) * 1000)::bigint AS to_ms, total,
  round(extract(epoch FROM next_at) * 1000)::bigint AS next_ms, done, skipped, round(extract(epoch FROM created_at) * 1000)::bigint AS created_at`

export function postgresStore (options: PostgresStoreOptions): Store {
  const timeout = resolveTimeout(options)
  if (options.prepare !== undefined && typeof options.prepare !== 'boolean') throw new InvalidOptionError('postgresStore: prepare must be true or false')
  const { pool, owned } = resolvePool(options, timeout)
  const n = resolveNames(options)
  const rawSchema = options.schema ?? DEFAULT_POSTGRES_SCHEMA
  const { withClient, one, useLog } = connection(pool, timeout, options.prepare ?? true)
  const statements = {
    startRun: startRunSql(n),
    startRunOverlap: startRunSql(n, true),
    finishRun: finishRunSql(n),
    retryAbandoned: retryAbandonedSql(n),
    abandonExpired: abandonExpiredSql(n, RUN_COLUMNS),
    heartbeat: heartbeatSql(n),
    pause: pauseSql(n),
    rebase: rebaseSql(n)
  }
  let initialized: Promise<void> | undefined
  let closed = false

  /**
   * startRun with claim `backfill` (docs/PAYLOADS.md#backfills), one transaction apart from
   * the hot statement (which stays as it is): the backfill row is locked at its cursor, so
   * concurrent claimers of one occurrence queue and all but the first find it moved; then
   * the start is the `none` statement (lease, fencing token, record); a held lease rolls
   * everything back (`busy`, nothing written).
   */
  async function startBackfilled (run: RunRecord, lease: StartRunRequest['lease'], historyLimit: number, backfill: StartRunRequest['backfill']): Promise<StartRunResult> {
    if (backfill === undefined || lease === undefined) return { outcome: 'claimed' }
    const nextAt = backfill.next ?? null
    return await withClient(async (query) => {
      await query('BEGIN')
      let done = false
      try {
        const { rows: [pause] } = await query<StoredPause & { since: Date }>(
          `SELECT task, since, reason, paused_by FROM ${n.pauses} WHERE task IN ('', $1) ORDER BY task LIMIT 1`, [run.task])
        if (pause !== undefined) return { outcome: 'paused', pause: pauseFromStored({ ...pause, since: pause.since.getTime() }) }
        const { rowCount: atCursor } = await query(`SELECT 1 FROM ${n.backfills} WHERE id = $1 AND next_at = $2 FOR UPDATE`, [backfill.id, run.scheduledFor])
        if (atCursor !== 1) return { outcome: 'claimed' }
        const { rowCount: hasRun } = await query(`SELECT 1 FROM ${n.runs} WHERE task = $1 AND scheduled_for = $2 AND NOT forced LIMIT 1`, [run.task, run.scheduledFor])
        if (hasRun === 1) {
          await query(`UPDATE ${n.backfills} SET next_at = $2, skipped = skipped + 1 WHERE id = $1`, [backfill.id, nextAt])
          await query('COMMIT')
          done = true
          return { outcome: 'claimed' }
        }
        const { rows: [row] } = await query<{ owner: string | null, token: string | null, abandoned: string | null }>(statements.startRun, [
          ...runParams(run), 'none', lease.key, new Date(lease.nowMs), new Date(lease.nowMs + lease.ttlMs), lease.nowMs,
          Math.max(0, Math.floor(historyLimit)), TAKEOVER_REASON, ...runExtraParams(run)
        ])
        if (row!.owner !== run.id) return { outcome: 'busy', holder: row!.owner! }
        await query(`UPDATE ${n.backfills} SET next_at = $2, done = done + 1 WHERE id = $1`, [backfill.id, nextAt])
        await query('COMMIT')
        done = true
        const started: StartRunResult = { outcome: 'started', leaseToken: Number(row!.token) }
        if (row!.abandoned !== null) started.abandoned = row!.abandoned
        return started
      } finally {
        // Every answer but a committed one leaves nothing behind (a held lease's overlap record included).
        if (!done) await query('ROLLBACK').catch(() => {})
      }
    })
  }

  return {
    kind: 'postgres',
    durable: true,

    async init (context) {
      if (context !== undefined) useLog(context.log)
      initialized ??= withClient(async (query) => {
        const { unknown } = await migrate(query, n, rawSchema)
        if (unknown.length > 0) {
          context?.log.warn({ migrations: unknown }, `postgresStore: the tables in schema ${rawSchema} have migrations ` +
            `${unknown.join(', ')} from a newer fastify-scheduler (none breaking): working with them`)
        }
      }, INIT_TIMEOUTS * timeout).catch((err: unknown) => {
        initialized = undefined
        throw err
      })
      await initialized
    },

    async close () {
      if (!owned || closed) return
      closed = true
      await pool.end()
    },

    async ensureTasks (names, firstSeen) {
      if (names.length === 0) return new Map()
      // Sorted, so concurrent inserts of overlapping names lock rows in one order.
      const unique = [...new Set(names)].sort()
      const { rows } = await withClient(async (query) => {
        await query(`INSERT INTO ${n.tasks} (task, first_seen) SELECT unnest($1::text[]), $2 ON CONFLICT (task) DO NOTHING`,
          [unique, firstSeen])
        // A second statement: it sees rows that concurrent callers inserted meanwhile.
        return await query<TaskRow>(`SELECT ${TASK_COLUMNS} FROM ${n.tasks} WHERE task = ANY($1::text[])`, [unique])
      })
      return taskStates(rows)
    },

    async startRun ({ run, claim, lease, historyLimit, overlap, backfill }): Promise<StartRunResult> {
      if (claim === 'backfill') return await startBackfilled(run, lease, historyLimit, backfill)
      // Only a task that buffers pays for the overlap parts of the statement.
      const withOverlap = overlap !== undefined || claim === 'buffer'
      const { rows: [row] } = await one<{
        first_seen: Date | null,
        go: boolean,
        owner: string | null,
        token: string | null,
        abandoned: string | null,
        buffered: string,
        pause_task: string | null,
        pause_since: Date | null,
        pause_reason: string | null,
        pause_by: string | null
      }>(
        withOverlap ? statements.startRunOverlap : statements.startRun, [
          ...runParams(run),
          claim,
          lease?.key ?? null,
          lease === undefined ? null : new Date(lease.nowMs),
          lease === undefined ? null : new Date(lease.nowMs + lease.ttlMs),
          lease?.nowMs ?? null,
          Math.max(0, Math.floor(historyLimit)),
          TAKEOVER_REASON,
          ...(withOverlap ? [overlap ?? null, BUFFERED_REASON] : []),
          ...runExtraParams(run)
        ])
      if (row!.pause_task !== null) {
        return { outcome: 'paused', pause: pauseFromStored({ task: row!.pause_task, since: row!.pause_since!.getTime(), reason: row!.pause_reason, paused_by: row!.pause_by }) }
      }
      if (!row!.go && claim === 'buffer') return { outcome: 'claimed' }
      if (!row!.go) {
        const firstSeen = row!.first_seen
        const stale = firstSeen === null || (claim === 'occurrence' && run.scheduledFor.getTime() < firstSeen.getTime())
        return { outcome: stale ? 'stale' : 'claimed' }
      }
      if (lease === undefined) return { outcome: 'recorded' }
      if (row!.owner !== run.id) {
        const outcome = claim === 'buffer' ? 'busy' : Number(row!.buffered) > 0 ? 'buffered' : 'overlap'
        return { outcome, holder: row!.owner! }
      }
      const started: StartRunResult = { outcome: 'started', leaseToken: Number(row!.token) }
      if (row!.abandoned !== null) started.abandoned = row!.abandoned
      return started
    },

    async renewLease (key, owner, ttlMs, nowMs) {
      // No expiry check: an owner re-takes its expired lease as long as the row still names it.
      const { rows } = await one<{ superseded: boolean }>(
        `UPDATE ${n.leases} SET expires_at = $3 WHERE key = $1 AND owner = $2 RETURNING superseded IS NOT DISTINCT FROM owner AS superseded`,
        [key, owner, new Date(nowMs + ttlMs)])
      return rows.length === 0 ? false : rows[0]!.superseded ? 'superseded' : true
    },

    async releaseLease (key, owner) {
      const { rowCount } = await one(`DELETE FROM ${n.leases} WHERE key = $1 AND owner = $2`, [key, owner])
      return rowCount === 1
    },

    async finishRun (run, { leaseKey, historyLimit, retry }) {
      await one(statements.finishRun, [
        ...runParams(run),
        leaseKey ?? null,
        Math.max(0, Math.floor(historyLimit)),
        retry?.of ?? null,
        retry?.attempt ?? null,
        retry?.at ?? null,
        ...runExtraParams(run)
      ])
    },

    async abandonExpired (nowMs, reason) {
      const { rows } = await one<StoredRun>(statements.abandonExpired, [new Date(nowMs), nowMs, reason])
      return rows.map(runFromStored)
    },

    async retryAbandoned (run, retry) {
      const { rowCount } = await one(statements.retryAbandoned,
        [run.id, run.task, run.scheduledFor, run.attempt, run.forced, retry.of, retry.attempt, retry.at])
      return rowCount === 1
    },

    async heartbeat (tick) {
      const { rows } = await one<{ last_tick: string | null, fence: string, buffered_tasks: string[] | null, buffered_at: string[] | null, pauses: StoredPause[] | null, backfills: StoredBackfill[] | null } & Partial<TaskRow>>(statements.heartbeat,
        [tick === undefined ? null : String(tick.at.getTime())])
      const retries = rows.flatMap((row) => {
        const retry = row.task == null ? undefined : retryOf(row as TaskRow)
        return retry === undefined ? [] : [{ task: row.task!, ...retry }]
      })
      const fence = Number(rows[0]!.fence)
      const lastTick = rows[0]!.last_tick
      const at = rows[0]!.buffered_at ?? []
      const buffered = (rows[0]!.buffered_tasks ?? []).map((task, i) => ({ task, of: new Date(Number(at[i])) }))
      const paused = (rows[0]!.pauses ?? []).map(pauseFromStored)
      const backfills = (rows[0]!.backfills ?? []).map(backfillFromStored)
      return lastTick == null ? { retries, fence, buffered, paused, backfills } : { lastTick: new Date(Number(lastTick)), retries, fence, buffered, paused, backfills }
    },

    async createBackfill ({ id, task, from, to, total, next, createdAt }) {
      // One statement: insert unless the same backfill is pending (the partial unique index), else read that one.
      const params = [id, task, from, to, total, next, createdAt]
      const sql = `WITH added AS (
          INSERT INTO ${n.backfills} (id, task, from_at, to_at, total, next_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
          ON CONFLICT (task, from_at, to_at) WHERE next_at IS NOT NULL DO NOTHING
          RETURNING ${BACKFILL_COLUMNS}
        )
        SELECT * FROM added UNION ALL SELECT ${BACKFILL_COLUMNS} FROM ${n.backfills}
        WHERE task = $2 AND from_at = $3 AND to_at = $4 AND next_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM added)`
      let { rows: [row] } = await one<StoredBackfill>(sql, params)
      // One committed by another caller after this statement's snapshot: read it again.
      row ??= (await one<StoredBackfill>(sql, params)).rows[0]
      return backfillFromStored(row!)
    },

    async pause ({ task, since, reason, by }) {
      const params = [task ?? '', since, reason ?? null, by ?? null]
      let { rows: [row] } = await one<StoredPause & { since: Date }>(statements.pause, params)
      // A pause committed by another caller after this statement's snapshot: read it again.
      row ??= (await one<StoredPause & { since: Date }>(statements.pause, params)).rows[0]
      return pauseFromStored({ ...row!, since: row!.since.getTime() })
    },

    async resume ({ task, skip = [], historyLimit }) {
      return await withClient(async (query) => {
        await query('BEGIN')
        try {
          const { rows: [lifted] } = await query<StoredPause & { since: Date }>(
            `DELETE FROM ${n.pauses} WHERE task = $1 RETURNING task, since, reason, paused_by`, [task ?? ''])
          if (lifted === undefined) {
            await query('ROLLBACK')
            return undefined
          }
          for (const run of skip) {
            // The claim as startRun makes it (docs/PAUSE.md), then the skipped record.
            const { rowCount } = await query(`UPDATE ${n.tasks} SET last_occurrence = $2, last_attempt = 1,
              retry_of = NULL, retry_attempt = NULL, retry_at = NULL
              WHERE task = $1 AND first_seen <= $2 AND (last_occurrence IS NULL OR last_occurrence < $2)`, [run.task, run.scheduledFor])
            if (rowCount !== 1) continue
            await query(`INSERT INTO ${n.runs} (${RUN_INSERT_COLUMNS}) VALUES (${RUN_FIELDS.map((_, i) => `$${i + 1}`).join(', ')})
              ON CONFLICT (id) DO NOTHING`, [...runParams(run), ...runExtraParams(run)])
          }
          await query('COMMIT')
          return pauseFromStored({ ...lifted, since: lifted.since.getTime() })
        } catch (err) {
          await query('ROLLBACK').catch(() => {})
          throw err
        }
      })
    },

    async rebase (names, firstSeen, fence) {
      // Sorted and unique: rows locked in one order, and an upsert may touch a row only once.
      const unique = [...new Set(names)].sort()
      const { rows } = await one<TaskRow>(statements.rebase, [unique, firstSeen, Math.max(0, Math.floor(fence))])
      return taskStates(rows)
    },

    async time () {
      const { rows: [row] } = await one<{ now: number }>('SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now')
      return Math.round(row!.now)
    },

    async claimOnce (key, until) {
      // One statement: forget claims whose time is over (the server's clock), then claim.
      // A key still in the table (even expired, deleted by this same statement) is not claimed again.
      const { rowCount } = await one(`WITH pruned AS (DELETE FROM ${n.claims} WHERE until < clock_timestamp())
        INSERT INTO ${n.claims} (key, until) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, [key, until])
      return rowCount === 1
    },

    async listRuns (query) {
      const { limit, offset } = pageOfRuns(query)
      const filter = 'WHERE ($1::text[] IS NULL OR task = ANY($1::text[])) AND ($2::text[] IS NULL OR status = ANY($2::text[]))'
      // One statement: the count and the page, a row of nulls beside the count when the page is empty.
      const { rows } = await one<StoredRun & { total: number }>(`
        SELECT c.total, p.* FROM (SELECT count(*)::int AS total FROM ${n.runs} ${filter}) c
        LEFT JOIN LATERAL (SELECT ${RUN_COLUMNS} FROM ${n.runs} ${filter}
          ORDER BY started_at DESC, id DESC LIMIT $3 OFFSET $4) p ON true`,
      [query.task ?? null, query.status ?? null, limit, offset])
      return { runs: rows.filter((row) => row.id !== null).map(runFromStored), total: rows[0]?.total ?? 0 }
    },

    async recentRuns (names, limit) {
      const newest = new Map<string, RunRecord[]>()
      const keep = Math.max(0, Math.floor(limit))
      if (names.length === 0 || keep === 0) return newest
      const { rows } = await one<StoredRun>(`
        SELECT r.* FROM unnest($1::text[]) AS wanted(task)
        CROSS JOIN LATERAL (SELECT ${RUN_COLUMNS} FROM ${n.runs} WHERE task = wanted.task
          ORDER BY started_at DESC, id DESC LIMIT $2) r`, [[...new Set(names)], keep])
      for (const row of rows) {
        const run = runFromStored(row)
        const list = newest.get(run.task) ?? []
        list.push(run)
        newest.set(run.task, list)
      }
      return newest
    }
  }
}
