/**
 * The PostgreSQL store (pg). Claims are one conditional upsert: the row lock Postgres takes
 * on conflict serialises concurrent claimers, and each re-checks the condition against the
 * committed value, so exactly one wins. Leases are taken in a short transaction that locks
 * the lease row (`FOR UPDATE`) so the expired owner can be reported; reaping is one
 * `DELETE ... RETURNING`, which hands each row to one caller.
 *
 * Instants are `timestamptz` (Dates go in and come out with millisecond precision); run ids
 * use the "C" collation so "id descending" is the same byte order as in the other stores.
 */
import type pg from 'pg'
import { InvalidOptionError } from '../errors.js'
import { RUN_COLUMNS, RUN_FIELDS, requireDriver, runFromStored, runToStored, withStoreErrors, type StoredRun } from './driver.js'
import { pageOfRuns } from './history.js'
import type { ExpiredLease, RunRecord, Store, TaskState } from './store.js'

export interface PostgresStoreOptions {
  /** A pool you manage: the store never ends it. */
  pool?: pg.Pool
  /** Or a connection string the store opens its own pool with (and ends on close). */
  connectionString?: string
  /** Schema of the tables, default `public`; created at init if missing. */
  schema?: string
  /** Prefix of the table names, default `fastify_scheduler_`. */
  tablePrefix?: string
}

export const DEFAULT_POSTGRES_SCHEMA = 'public'
export const DEFAULT_TABLE_PREFIX = 'fastify_scheduler_'
const SCHEMA_VERSION = 1
/** Postgres truncates longer identifiers; the longest name we derive is `<prefix>runs_started`. */
const MAX_IDENTIFIER_LENGTH = 63

/** Fully qualified, quoted names of every table and index, derived once from the options. */
function tableNames (schema: string, tablePrefix: string) {
  const id = (name: string) => `"${name.replace(/"/g, '""')}"`
  const qualified = (name: string) => `${id(schema)}.${id(tablePrefix + name)}`
  return {
    schema: id(schema),
    meta: qualified('meta'),
    tasks: qualified('tasks'),
    leases: qualified('leases'),
    runs: qualified('runs'),
    leasesExpiryIndex: id(`${tablePrefix}leases_expiry`),
    runsTaskIndex: id(`${tablePrefix}runs_task`),
    runsStartedIndex: id(`${tablePrefix}runs_started`)
  }
}

type TableNames = ReturnType<typeof tableNames>

function schemaDdl (n: TableNames): string {
  return `
CREATE TABLE IF NOT EXISTS ${n.meta} (
  key text PRIMARY KEY,
  value text NOT NULL
);
CREATE TABLE IF NOT EXISTS ${n.tasks} (
  task text PRIMARY KEY,
  first_seen timestamptz NOT NULL,
  last_occurrence timestamptz
);
CREATE TABLE IF NOT EXISTS ${n.leases} (
  key text PRIMARY KEY,
  owner text NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS ${n.leasesExpiryIndex} ON ${n.leases} (expires_at);
CREATE TABLE IF NOT EXISTS ${n.runs} (
  id text COLLATE "C" PRIMARY KEY,
  task text NOT NULL,
  scheduled_for timestamptz NOT NULL,
  trigger text NOT NULL,
  started_at timestamptz NOT NULL,
  finished_at timestamptz,
  duration_ms bigint,
  status text NOT NULL,
  error text,
  stack text
);
CREATE INDEX IF NOT EXISTS ${n.runsTaskIndex} ON ${n.runs} (task, started_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS ${n.runsStartedIndex} ON ${n.runs} (started_at DESC, id DESC);
INSERT INTO ${n.meta} (key, value) VALUES ('schema_version', '${SCHEMA_VERSION}') ON CONFLICT (key) DO NOTHING;
`
}

function resolvePool (options: PostgresStoreOptions): { pool: pg.Pool, owned: boolean } {
  if (options.pool !== undefined && options.connectionString !== undefined) {
    throw new InvalidOptionError('postgresStore: pass either pool or connectionString, not both')
  }
  if (options.pool !== undefined) return { pool: options.pool, owned: false }
  if (typeof options.connectionString !== 'string' || options.connectionString === '') {
    throw new InvalidOptionError('postgresStore: pass pool (a pg.Pool) or connectionString (e.g. "postgres://user@host:5432/db")')
  }
  // A short connect timeout reports an outage quickly instead of holding the tick.
  const { Pool } = requireDriver<typeof import('pg')>('pg', 'postgresStore')
  const pool = new Pool({ connectionString: options.connectionString, connectionTimeoutMillis: 2000 })
  // An idle client losing its connection emits 'error' on the pool; without a listener that
  // would crash the process. The next query reports the outage instead.
  pool.on('error', () => {})
  return { pool, owned: true }
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

/** Run `fn` in a transaction on one pooled client, rolling back on error. */
async function inTransaction<T> (pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  let broken: Error | undefined
  try {
    await client.query('BEGIN')
    const result = await fn(client)
    await client.query('COMMIT')
    return result
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackError: Error) => { broken = rollbackError })
    throw err
  } finally {
    // A client whose rollback failed is in an unknown state: discard it rather than reuse it.
    client.release(broken)
  }
}

export function postgresStore (options: PostgresStoreOptions): Store {
  const { pool, owned } = resolvePool(options)
  const n = resolveNames(options)
  const rawSchema = options.schema ?? DEFAULT_POSTGRES_SCHEMA
  let initialized: Promise<void> | undefined
  let closed = false

  async function createTables (): Promise<void> {
    await inTransaction(pool, async (client) => {
      // Several processes may boot at once: one creates, the others wait and find it done.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`fastify-scheduler:${n.tasks}`])
      const { rowCount } = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [rawSchema])
      if (rowCount === 0) await client.query(`CREATE SCHEMA ${n.schema}`)
      await client.query(schemaDdl(n))
    })
  }

  return {
    kind: 'postgres',
    durable: true,

    async init () {
      initialized ??= withStoreErrors(createTables).catch((err: unknown) => {
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
      const states = new Map<string, TaskState>()
      if (names.length === 0) return states
      // Sorted, so concurrent inserts of overlapping names lock rows in one order.
      const unique = [...new Set(names)].sort()
      const { rows } = await withStoreErrors(async () => {
        await pool.query(
          `INSERT INTO ${n.tasks} (task, first_seen) SELECT unnest($1::text[]), $2 ON CONFLICT (task) DO NOTHING`,
          [unique, firstSeen])
        // A second statement: it sees rows that concurrent callers inserted meanwhile.
        return await pool.query<{ task: string, first_seen: Date, last_occurrence: Date | null }>(
          `SELECT task, first_seen, last_occurrence FROM ${n.tasks} WHERE task = ANY($1::text[])`, [unique])
      })
      for (const row of rows) {
        const state: TaskState = { firstSeen: row.first_seen }
        if (row.last_occurrence !== null) state.lastOccurrence = row.last_occurrence
        states.set(row.task, state)
      }
      return states
    },

    async claimOccurrence (task, occurrence) {
      const { rowCount } = await withStoreErrors(() => pool.query(`
        INSERT INTO ${n.tasks} AS t (task, first_seen, last_occurrence) VALUES ($1, $2, $2)
        ON CONFLICT (task) DO UPDATE SET last_occurrence = EXCLUDED.last_occurrence
        WHERE t.last_occurrence IS NULL OR t.last_occurrence < EXCLUDED.last_occurrence
        RETURNING 1`, [task, occurrence]))
      return rowCount === 1
    },

    async acquireLease (key, owner, ttlMs, nowMs) {
      const expiresAt = new Date(nowMs + ttlMs)
      return await withStoreErrors(() => inTransaction(pool, async (client) => {
        const { rows: [current] } = await client.query<{ owner: string, expires_at: Date }>(
          `SELECT owner, expires_at FROM ${n.leases} WHERE key = $1 FOR UPDATE`, [key])
        if (current === undefined) {
          // Nobody held it when we looked; of concurrent inserters, the first wins.
          const { rowCount } = await client.query(
            `INSERT INTO ${n.leases} (key, owner, expires_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING`,
            [key, owner, expiresAt])
          return { acquired: rowCount === 1 }
        }
        if (current.expires_at.getTime() > nowMs) return { acquired: false }
        await client.query(`UPDATE ${n.leases} SET owner = $2, expires_at = $3 WHERE key = $1`, [key, owner, expiresAt])
        return { acquired: true, expiredOwner: current.owner }
      }))
    },

    async renewLease (key, owner, ttlMs, nowMs) {
      const { rowCount } = await withStoreErrors(() => pool.query(
        `UPDATE ${n.leases} SET expires_at = $3 WHERE key = $1 AND owner = $2 AND expires_at > $4`,
        [key, owner, new Date(nowMs + ttlMs), new Date(nowMs)]))
      return rowCount === 1
    },

    async releaseLease (key, owner) {
      const { rowCount } = await withStoreErrors(() => pool.query(`DELETE FROM ${n.leases} WHERE key = $1 AND owner = $2`, [key, owner]))
      return rowCount === 1
    },

    async reapExpiredLeases (nowMs) {
      const { rows } = await withStoreErrors(() => pool.query<ExpiredLease>(
        `DELETE FROM ${n.leases} WHERE expires_at <= $1 RETURNING key, owner`, [new Date(nowMs)]))
      return rows.map(({ key, owner }) => ({ key, owner }))
    },

    async recordRun (run, historyLimit) {
      const stored = runToStored(run, (date) => date)
      await withStoreErrors(async () => {
        await pool.query(`
          INSERT INTO ${n.runs} (id, task, scheduled_for, trigger, started_at, finished_at, duration_ms, status, error, stack)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
          ON CONFLICT (id) DO UPDATE SET
            task = EXCLUDED.task, scheduled_for = EXCLUDED.scheduled_for, trigger = EXCLUDED.trigger,
            started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at, duration_ms = EXCLUDED.duration_ms,
            status = EXCLUDED.status, error = EXCLUDED.error, stack = EXCLUDED.stack`,
        RUN_FIELDS.map((field) => stored[field]))
        // Pruning is its own statement so that it sees the row just written.
        await pool.query(`
          DELETE FROM ${n.runs} WHERE status <> 'running' AND id IN (
            SELECT id FROM ${n.runs} WHERE task = $1 ORDER BY started_at DESC, id DESC OFFSET $2)`,
        [run.task, Math.max(0, Math.floor(historyLimit))])
      })
    },

    async markAbandoned (runId, finishedAt) {
      const { rowCount } = await withStoreErrors(() => pool.query(
        `UPDATE ${n.runs} SET status = 'abandoned', finished_at = $2 WHERE id = $1 AND status = 'running'`,
        [runId, finishedAt]))
      return rowCount === 1
    },

    async listRuns (query) {
      const { limit, offset } = pageOfRuns(query)
      const filter = 'WHERE ($1::text[] IS NULL OR task = ANY($1::text[])) AND ($2::text[] IS NULL OR status = ANY($2::text[]))'
      const params = [query.task ?? null, query.status ?? null]
      const [count, page] = await withStoreErrors(() => Promise.all([
        pool.query<{ total: number }>(`SELECT count(*)::int AS total FROM ${n.runs} ${filter}`, params),
        pool.query<StoredRun>(`SELECT ${RUN_COLUMNS} FROM ${n.runs} ${filter} ORDER BY started_at DESC, id DESC LIMIT $3 OFFSET $4`,
          [...params, limit, offset])
      ]))
      return { runs: page.rows.map(runFromStored), total: count.rows[0]!.total }
    },

    async lastRuns (names) {
      const newest = new Map<string, RunRecord>()
      if (names.length === 0) return newest
      const { rows } = await withStoreErrors(() => pool.query<StoredRun & { task: string }>(
        `SELECT DISTINCT ON (task) ${RUN_COLUMNS} FROM ${n.runs} WHERE task = ANY($1::text[]) ORDER BY task, started_at DESC, id DESC`,
        [[...names]]))
      for (const row of rows) newest.set(row.task, runFromStored(row))
      return newest
    }
  }
}
