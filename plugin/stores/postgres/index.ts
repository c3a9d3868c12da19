/**
 * The PostgreSQL store (pg). Every method but `init` and `ensureTasks` is ONE statement, so
 * one round trip, and atomic without an explicit transaction:
 *
 * - `startRun` is one statement of data-modifying CTEs (in the spirit of graphile-worker's
 *   cron): the claim is a conditional `UPDATE` of the task row (concurrent claimers queue on
 *   its row lock and each re-checks the condition against the committed row, so exactly one
 *   wins); the lease is an upsert that always locks the lease row and, in `SET`, decides
 *   from the latest committed version whether it has expired: if so it takes it (a fresh
 *   `nextval` fencing token, the previous owner copied to `taken_from`), if not it leaves it
 *   as it is and `RETURNING` names the holder. That is why the upsert always updates:
 *   `RETURNING` sees only the new row, and a `DO UPDATE ... WHERE expired` that skips the row
 *   returns nothing, not even who holds it. Then the expired owner's `running` record is set
 *   `abandoned`, the new record inserted (`skipped`/`overlap` when the lease was held) and
 *   history pruned. One statement rather than a transaction: one round trip (the claim
 *   benchmark holds it to twice a bare write) and no transaction left open when the client
 *   dies between statements. Locks are taken in one order, task row, then lease row, then
 *   run rows (each CTE reads the one before it, which fixes the order), so concurrent starters
 *   queue and never deadlock; `finishRun` follows the same order.
 * - Pruning inside a statement cannot see or delete the row the statement writes, so the new
 *   record is counted with the task's rows: the bound is the `historyLimit`-th newest of them
 *   all (a walk of at most `historyLimit` index entries), one index range scan deletes the
 *   settled rows older than it (usually one row), and a new record older than the bound is
 *   not written (`finishRun` deletes the run's `running` row instead).
 * - Rows are always reached through an index, whatever the planner believes: a prepared
 *   statement gets a generic plan, and one planned while the tables were still small or
 *   never analyzed chose a sequential scan of the runs table for a join on a run id (it cost
 *   0.6 of the statement's 0.8 ms at 9,300 rows). So a run id computed inside a statement is
 *   matched with `= (SELECT …)` or `= ANY (ARRAY(SELECT …))`, which only an index serves.
 * - `abandonExpired` deletes expired leases locked `FOR UPDATE SKIP LOCKED` and flips their
 *   owners' `running` records, returning each to one caller; a lease another statement is
 *   taking over or releasing is skipped, never waited on.
 * - The fencing token comes from a sequence: monotonic across the cluster. The last tick is
 *   a meta row moved with `GREATEST` (epoch milliseconds as text). A pending retry is three
 *   nullable columns of the task row.
 *
 * Faults: the store never lets a driver error escape as an 'error' event. Our own pool has
 * an 'error' listener, and every client the store checks out has one while the store holds
 * it (attached on checkout, removed on release); a pool the user passes in needs its own
 * listener for its idle clients, as pg documents. A client that met any error is released
 * with it, so the pool discards it rather than reusing a connection in an unknown state.
 * Every call has a deadline (`timeout`, default 5000 ms): waiting for a client is raced
 * against it, and each query carries `query_timeout` (enforced by pg on the client, so it
 * also fires when the server is frozen or partitioned, where the server-side
 * `statement_timeout` never would). Our own pool also uses it as `connectionTimeoutMillis`.
 *
 * Schema v2 (v1 is migrated in place at init, under an advisory lock): tasks gained
 * `retry_of`, `retry_attempt`, `retry_at`; leases `token` and `taken_from`; runs `attempt`,
 * `forced`, `instance`; a `lease_tokens` sequence. Instants are `timestamptz` (Dates go in
 * and come out with millisecond precision); run ids use the "C" collation so "id descending"
 * is the same byte order as in the other stores.
 */
import { createHash } from 'node:crypto'
import type pg from 'pg'
import { InvalidOptionError } from '../errors.js'
import { RUN_COLUMNS, RUN_FIELDS, requireDriver, runFromStored, runToStored, withStoreErrors, type StoredRun } from './driver.js'
import { pageOfRuns, SETTLED_STATUSES, TAKEOVER_REASON } from './history.js'
import type { PendingRetry, RunRecord, StartRunResult, Store, TaskState } from './store.js'

export interface PostgresStoreOptions {
  /** A pool you manage: the store never ends it (give it an 'error' listener, as pg asks). */
  pool?: pg.Pool
  /** Or a connection string the store opens its own pool with (and ends on close). */
  connectionString?: string
  /** Schema of the tables, default `public`; created at init if missing. */
  schema?: string
  /** Prefix of the table names, default `fastify_scheduler_`. */
  tablePrefix?: string
  /**
   * Milliseconds a call may take before it fails with FST_SCHEDULER_STORE_UNAVAILABLE,
   * default 5000: the wait for a connection and the query together.
   */
  timeout?: number
  /**
   * Prepare the long statements (start, finish) once per connection, default true: planning
   * them costs more than running them. Set false behind a pooler that cannot keep prepared
   * statements (PgBouncer in transaction mode before 1.21).
   */
  prepare?: boolean
}

export const DEFAULT_POSTGRES_SCHEMA = 'public'
export const DEFAULT_TABLE_PREFIX = 'fastify_scheduler_'
export const DEFAULT_POSTGRES_TIMEOUT_MS = 5000
const SCHEMA_VERSION = 2
/** Postgres truncates longer identifiers; the longest name we derive is `<prefix>runs_started`. */
const MAX_IDENTIFIER_LENGTH = 63
/** `init` may wait behind another process migrating the schema: it gets this many timeouts. */
const INIT_TIMEOUTS = 3
const SETTLED = SETTLED_STATUSES.map((status) => `'${status}'`).join(', ')
const RUN_INSERT_COLUMNS = 'id, task, scheduled_for, trigger, started_at, finished_at, duration_ms, status, error, stack, attempt, forced, instance'
/** The 13 run fields as typed parameters $1..$13, in RUN_FIELDS order. */
const RUN_PARAMS = '$1::text, $2::text, $3::timestamptz, $4::text, $5::timestamptz, $6::timestamptz, $7::bigint, ' +
  '$8::text, $9::text, $10::text, $11::int, $12::boolean, $13::text'
/** Epoch milliseconds of a timestamptz column, for durations computed in SQL. */
const epochMs = (column: string) => `round(extract(epoch FROM ${column}) * 1000)::bigint`

/** Fully qualified, quoted names of every table, index and sequence, derived once from the options. */
function tableNames (schema: string, tablePrefix: string) {
  const id = (name: string) => `"${name.replace(/"/g, '""')}"`
  const qualified = (name: string) => `${id(schema)}.${id(tablePrefix + name)}`
  return {
    schema: id(schema),
    meta: qualified('meta'),
    tasks: qualified('tasks'),
    leases: qualified('leases'),
    runs: qualified('runs'),
    leaseTokens: qualified('lease_tokens'),
    leasesExpiryIndex: id(`${tablePrefix}leases_expiry`),
    runsTaskIndex: id(`${tablePrefix}runs_task`),
    runsStartedIndex: id(`${tablePrefix}runs_started`)
  }
}

type TableNames = ReturnType<typeof tableNames>

/** The v2 tables, for a new database. */
function createDdl (n: TableNames): string {
  return `
CREATE TABLE IF NOT EXISTS ${n.meta} (
  key text PRIMARY KEY,
  value text NOT NULL
);
CREATE TABLE IF NOT EXISTS ${n.tasks} (
  task text PRIMARY KEY,
  first_seen timestamptz NOT NULL,
  last_occurrence timestamptz,
  retry_of timestamptz,
  retry_attempt integer,
  retry_at timestamptz
);
CREATE TABLE IF NOT EXISTS ${n.leases} (
  key text PRIMARY KEY,
  owner text NOT NULL,
  expires_at timestamptz NOT NULL,
  token bigint,
  taken_from text
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
  stack text,
  attempt integer NOT NULL DEFAULT 1,
  forced boolean NOT NULL DEFAULT false,
  instance text
);
CREATE INDEX IF NOT EXISTS ${n.runsTaskIndex} ON ${n.runs} (task, started_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS ${n.runsStartedIndex} ON ${n.runs} (started_at DESC, id DESC);
CREATE SEQUENCE IF NOT EXISTS ${n.leaseTokens};
`
}

/**
 * v1 -> v2 in place. Run only when the stored version is 1: `ALTER TABLE` takes an exclusive
 * lock even when it changes nothing, which every boot would otherwise queue behind. The
 * defaults make v1 rows valid v2 rows (attempt 1, not forced, no pending retry).
 */
function migrateV1Ddl (n: TableNames): string {
  return `
ALTER TABLE ${n.tasks} ADD COLUMN IF NOT EXISTS retry_of timestamptz,
  ADD COLUMN IF NOT EXISTS retry_attempt integer, ADD COLUMN IF NOT EXISTS retry_at timestamptz;
ALTER TABLE ${n.leases} ADD COLUMN IF NOT EXISTS token bigint, ADD COLUMN IF NOT EXISTS taken_from text;
ALTER TABLE ${n.runs} ADD COLUMN IF NOT EXISTS attempt integer NOT NULL DEFAULT 1,
  ADD COLUMN IF NOT EXISTS forced boolean NOT NULL DEFAULT false, ADD COLUMN IF NOT EXISTS instance text;
`
}

/**
 * The `historyLimit`-th newest of the task's stored rows and the new record together (`$1`
 * its id, `$5` its start, `limit` the parameter holding the limit), when `gate` holds: rows
 * older than it are past the limit. A walk of at most `limit` index entries, then a sort of
 * as many rows.
 */
function boundSql (n: TableNames, limit: string, gate: string): string {
  return `SELECT started_at, id FROM (
    (SELECT started_at, id FROM ${n.runs} WHERE task = $2::text AND id <> $1::text ORDER BY started_at DESC, id DESC LIMIT ${limit})
    UNION ALL SELECT $5::timestamptz, $1::text COLLATE "C"
  ) r WHERE ${gate}
  ORDER BY started_at DESC, id DESC OFFSET GREATEST(${limit} - 1, 0) LIMIT 1`
}

/** True when the new record ranks within the limit: no bound, or the bound is not newer than it. */
function keptSql (limit: string): string {
  return `${limit} > 0 AND NOT EXISTS (SELECT 1 FROM bound b WHERE (b.started_at, b.id) > ($5::timestamptz, $1::text COLLATE "C"))`
}

/** The task's settled rows older than the bound, other than the new record's: what pruning deletes. */
function prunedSql (n: TableNames): string {
  return `DELETE FROM ${n.runs} WHERE task = $2::text AND id <> $1::text AND status <> 'running'
    AND (started_at, id) < (SELECT started_at, id FROM bound)
  RETURNING 1`
}

/** Statements longer than this are prepared (named) per connection. */
const PREPARE_ABOVE = 400
const statementNames = new Map<string, string>()

/** A stable name for a prepared statement: `fastify_scheduler_` + a hash of its text. */
function statementName (text: string): string {
  let name = statementNames.get(text)
  if (name === undefined) {
    name = `fastify_scheduler_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`
    statementNames.set(text, name)
  }
  return name
}

/**
 * startRun's statement. Parameters: $1..$13 the run (RUN_PARAMS), $14 the claim, $15 the
 * lease key (null: no lease), $16 now, $17 the lease expiry, $18 now in ms, $19 the history
 * limit, $20 the reason given to a run whose expired lease is taken over.
 */
function startRunSql (n: TableNames): string {
  const expired = 'l.expires_at <= $16::timestamptz'
  return `
WITH state AS (
  SELECT first_seen FROM ${n.tasks} WHERE task = $2::text
), claim AS (
  UPDATE ${n.tasks} SET
    last_occurrence = CASE WHEN $14::text = 'occurrence' THEN $3::timestamptz ELSE last_occurrence END,
    retry_of = NULL, retry_attempt = NULL, retry_at = NULL
  WHERE task = $2::text AND CASE $14::text
    WHEN 'occurrence' THEN first_seen <= $3::timestamptz AND (last_occurrence IS NULL OR last_occurrence < $3::timestamptz)
    WHEN 'retry' THEN retry_of = $3::timestamptz AND retry_attempt = $11::int
    ELSE false END
  RETURNING 1
), go AS (
  SELECT 1 FROM claim UNION ALL SELECT 1 WHERE $14::text = 'none'
), lease AS (
  INSERT INTO ${n.leases} AS l (key, owner, expires_at, token)
  SELECT $15::text, $1::text, $17::timestamptz, nextval('${n.leaseTokens}') FROM go WHERE $15::text IS NOT NULL
  ON CONFLICT (key) DO UPDATE SET
    taken_from = CASE WHEN ${expired} THEN l.owner END,
    token = CASE WHEN ${expired} THEN EXCLUDED.token ELSE l.token END,
    owner = CASE WHEN ${expired} THEN EXCLUDED.owner ELSE l.owner END,
    expires_at = CASE WHEN ${expired} THEN EXCLUDED.expires_at ELSE l.expires_at END
  RETURNING owner, token, taken_from
), abandoned AS (
  UPDATE ${n.runs} r SET status = 'abandoned', finished_at = $16::timestamptz,
    duration_ms = GREATEST(0, $18::bigint - ${epochMs('r.started_at')}), error = $20::text
  WHERE r.id = (SELECT taken_from FROM lease WHERE owner = $1::text) AND r.status = 'running'
  RETURNING r.id
), outcome AS (
  SELECT $15::text IS NOT NULL AND (SELECT owner FROM lease) IS DISTINCT FROM $1::text AS skipped FROM go
), bound AS (
  ${boundSql(n, '$19::int', 'EXISTS (SELECT 1 FROM go)')}
), written AS (
  INSERT INTO ${n.runs} (${RUN_INSERT_COLUMNS})
  SELECT $1::text, $2::text, $3::timestamptz, $4::text, $5::timestamptz,
    CASE WHEN skipped THEN $5::timestamptz ELSE $6::timestamptz END,
    CASE WHEN skipped THEN 0 ELSE $7::bigint END,
    CASE WHEN skipped THEN 'skipped' ELSE $8::text END,
    CASE WHEN skipped THEN 'overlap' ELSE $9::text END,
    $10::text, $11::int, $12::boolean, $13::text
  FROM outcome
  WHERE ($8::text = 'running' AND NOT skipped) OR (${keptSql('$19::int')})
  ON CONFLICT (id) DO NOTHING
  RETURNING 1
), pruned AS (
  ${prunedSql(n)}
)
SELECT (SELECT first_seen FROM state) AS first_seen, EXISTS (SELECT 1 FROM go) AS go,
  (SELECT owner FROM lease) AS owner, (SELECT token FROM lease) AS token, (SELECT id FROM abandoned) AS abandoned,
  (SELECT count(*) FROM written) AS written, (SELECT count(*) FROM pruned) AS pruned`
}

/**
 * finishRun's statement. Parameters: $1..$13 the run, $14 the lease key to release (null:
 * keep it), $15 the history limit, $16..$18 the pending retry (nulls: none). Locks in
 * startRun's order: task row (retry), lease row (release), run rows.
 */
function finishRunSql (n: TableNames): string {
  return `
WITH retry AS (
  UPDATE ${n.tasks} SET retry_of = $16::timestamptz, retry_attempt = $17::int, retry_at = $18::timestamptz
  WHERE task = $2::text AND $16::timestamptz IS NOT NULL
  RETURNING 1
), released AS (
  DELETE FROM ${n.leases} WHERE key = $14::text AND owner = $1::text AND (SELECT count(*) FROM retry) >= 0
  RETURNING 1
), open AS (
  -- Nothing to do once a settled record is stored; counting the release orders the locks.
  SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM ${n.runs} WHERE id = $1::text AND status IN (${SETTLED}))
    AND (SELECT count(*) FROM released) >= 0
), bound AS (
  ${boundSql(n, '$15::int', 'EXISTS (SELECT 1 FROM open)')}
), keep AS (
  SELECT ${keptSql('$15::int')} AS kept FROM open
), written AS (
  INSERT INTO ${n.runs} AS r (${RUN_INSERT_COLUMNS})
  SELECT ${RUN_PARAMS} FROM keep WHERE kept
  ON CONFLICT (id) DO UPDATE SET task = EXCLUDED.task, scheduled_for = EXCLUDED.scheduled_for,
    trigger = EXCLUDED.trigger, started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
    duration_ms = EXCLUDED.duration_ms, status = EXCLUDED.status, error = EXCLUDED.error, stack = EXCLUDED.stack,
    attempt = EXCLUDED.attempt, forced = EXCLUDED.forced, instance = EXCLUDED.instance
  WHERE r.status NOT IN (${SETTLED})
  RETURNING 1
), dropped AS (
  DELETE FROM ${n.runs} WHERE id = $1::text AND status NOT IN (${SETTLED}) AND EXISTS (SELECT 1 FROM keep WHERE NOT kept)
  RETURNING 1
), pruned AS (
  ${prunedSql(n)}
)
SELECT (SELECT count(*) FROM retry) AS retry, (SELECT count(*) FROM released) AS released,
  (SELECT count(*) FROM written) AS written, (SELECT count(*) FROM dropped) AS dropped, (SELECT count(*) FROM pruned) AS pruned`
}

function resolveTimeout (options: PostgresStoreOptions): number {
  const timeout = options.timeout ?? DEFAULT_POSTGRES_TIMEOUT_MS
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout < 1) {
    throw new InvalidOptionError('postgresStore: timeout must be a number of milliseconds >= 1')
  }
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
  const { Pool } = requireDriver<typeof import('pg')>('pg', 'postgresStore')
  const pool = new Pool({ connectionString: options.connectionString, connectionTimeoutMillis: timeout, query_timeout: timeout })
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

/** A query on a client checked out by `withClient`: bounded by the call's deadline. */
type Query = <R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]) => Promise<pg.QueryResult<R>>

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

export function postgresStore (options: PostgresStoreOptions): Store {
  const timeout = resolveTimeout(options)
  if (options.prepare !== undefined && typeof options.prepare !== 'boolean') throw new InvalidOptionError('postgresStore: prepare must be true or false')
  const prepare = options.prepare ?? true
  const { pool, owned } = resolvePool(options, timeout)
  const n = resolveNames(options)
  const rawSchema = options.schema ?? DEFAULT_POSTGRES_SCHEMA
  const startRunStatement = startRunSql(n)
  const finishRunStatement = finishRunSql(n)
  let initialized: Promise<void> | undefined
  let closed = false

  /**
   * Check out a client within `deadline` (a pool with every client busy or a server that
   * never answers the handshake would otherwise wait forever), `onError` listening on it
   * from the moment the pool hands it over. pg's callback form matters here: the pool calls
   * it synchronously, while the data that completed the handshake is still being parsed. A
   * promise would resume us a microtask later, after the rest of that data, and a backend
   * terminated just after its handshake would meet a client with no 'error' listener: a
   * process crash. A client that arrives after the deadline goes straight back to the pool.
   */
  async function checkout (deadline: number, onError: (err: Error) => void): Promise<pg.PoolClient> {
    return await new Promise((resolve, reject) => {
      let late = false
      const timer = setTimeout(() => {
        late = true
        reject(new Error(`no connection to PostgreSQL within ${timeout} ms`))
      }, Math.max(1, deadline - performance.now()))
      pool.connect((err, client, release) => {
        clearTimeout(timer)
        if (err !== undefined && err !== null) {
          reject(err)
        } else if (late) {
          release()
        } else {
          client!.on('error', onError)
          resolve(client!)
        }
      })
    })
  }

  /**
   * Run `fn` on one checked-out client, every query bounded by the call's deadline, every
   * failure turned into the coded error. While we hold the client, its 'error' events (the
   * backend terminated, the socket reset) are ours: caught here, never a process crash.
   * A client that met any error is released with it, so the pool discards it.
   */
  async function withClient<T> (fn: (query: Query) => Promise<T>, budget = timeout): Promise<T> {
    return await withStoreErrors(async () => {
      const deadline = performance.now() + budget
      let broken: unknown
      const onError = (err: Error) => { broken ??= err }
      const client = await checkout(deadline, onError)
      const query: Query = async (text, values) => await client.query({
        text,
        values,
        // The long statements (startRun, finishRun) are prepared once per connection: planning
        // their CTEs costs more than running them. Named by a hash of the text, so stores with
        // other tables sharing a user's pool never collide.
        ...(prepare && values !== undefined && text.length > PREPARE_ABOVE ? { name: statementName(text) } : {}),
        // pg's client-side read timeout: fires even when the server is frozen.
        query_timeout: Math.max(1, Math.floor(deadline - performance.now()))
      } as pg.QueryConfig)
      try {
        return await fn(query)
      } catch (err) {
        broken ??= err
        throw err
      } finally {
        client.removeListener('error', onError)
        client.release(broken === undefined ? undefined : broken instanceof Error ? broken : new Error(String(broken)))
      }
    })
  }

  /** One statement on one client: one round trip. */
  async function one<R extends pg.QueryResultRow> (text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    return await withClient((query) => query<R>(text, values))
  }

  async function createTables (): Promise<void> {
    await withClient(async (query) => {
      await query('BEGIN')
      // Several processes may boot at once: one creates or migrates, the others wait and find it done.
      await query('SELECT pg_advisory_xact_lock(hashtext($1))', [`fastify-scheduler:${n.tasks}`])
      const { rowCount } = await query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [rawSchema])
      if (rowCount === 0) await query(`CREATE SCHEMA ${n.schema}`)
      await query(createDdl(n))
      const { rows: [stored] } = await query<{ value: string }>(`SELECT value FROM ${n.meta} WHERE key = 'schema_version'`)
      const version = stored === undefined ? SCHEMA_VERSION : Number(stored.value)
      if (version > SCHEMA_VERSION) {
        throw new Error(`the tables in schema ${rawSchema} are at version ${stored!.value}, newer than this fastify-scheduler knows (${SCHEMA_VERSION}): upgrade it`)
      }
      if (version < 2) await query(migrateV1Ddl(n))
      await query(`INSERT INTO ${n.meta} AS m (key, value) VALUES ('schema_version', $1)
        ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, [String(SCHEMA_VERSION)])
      await query('COMMIT')
    }, INIT_TIMEOUTS * timeout)
  }

  return {
    kind: 'postgres',
    durable: true,

    async init () {
      initialized ??= createTables().catch((err: unknown) => {
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
      const { rows } = await withClient(async (query) => {
        await query(`INSERT INTO ${n.tasks} (task, first_seen) SELECT unnest($1::text[]), $2 ON CONFLICT (task) DO NOTHING`,
          [unique, firstSeen])
        // A second statement: it sees rows that concurrent callers inserted meanwhile.
        return await query<TaskRow>(`SELECT task, first_seen, last_occurrence, retry_of, retry_attempt, retry_at
          FROM ${n.tasks} WHERE task = ANY($1::text[])`, [unique])
      })
      for (const row of rows) {
        const state: TaskState = { firstSeen: row.first_seen }
        if (row.last_occurrence !== null) state.lastOccurrence = row.last_occurrence
        const retry = retryOf(row)
        if (retry !== undefined) state.retry = retry
        states.set(row.task, state)
      }
      return states
    },

    async startRun ({ run, claim, lease, historyLimit }): Promise<StartRunResult> {
      const stored = runToStored(run, (date) => date)
      const { rows: [row] } = await one<{ first_seen: Date | null, go: boolean, owner: string | null, token: string | null, abandoned: string | null }>(
        startRunStatement, [
          ...RUN_FIELDS.map((field) => stored[field]),
          claim,
          lease?.key ?? null,
          lease === undefined ? null : new Date(lease.nowMs),
          lease === undefined ? null : new Date(lease.nowMs + lease.ttlMs),
          lease?.nowMs ?? null,
          Math.max(0, Math.floor(historyLimit)),
          TAKEOVER_REASON
        ])
      if (!row!.go) {
        const firstSeen = row!.first_seen
        const stale = firstSeen === null || (claim === 'occurrence' && run.scheduledFor.getTime() < firstSeen.getTime())
        return { outcome: stale ? 'stale' : 'claimed' }
      }
      if (lease === undefined) return { outcome: 'recorded' }
      if (row!.owner !== run.id) return { outcome: 'overlap', holder: row!.owner! }
      const started: StartRunResult = { outcome: 'started', leaseToken: Number(row!.token) }
      if (row!.abandoned !== null) started.abandoned = row!.abandoned
      return started
    },

    async renewLease (key, owner, ttlMs, nowMs) {
      // No expiry check: an owner re-takes its expired lease as long as the row still names it.
      const { rowCount } = await one(`UPDATE ${n.leases} SET expires_at = $3 WHERE key = $1 AND owner = $2`,
        [key, owner, new Date(nowMs + ttlMs)])
      return rowCount === 1
    },

    async releaseLease (key, owner) {
      const { rowCount } = await one(`DELETE FROM ${n.leases} WHERE key = $1 AND owner = $2`, [key, owner])
      return rowCount === 1
    },

    async finishRun (run, { leaseKey, historyLimit, retry }) {
      const stored = runToStored(run, (date) => date)
      await one(finishRunStatement, [
        ...RUN_FIELDS.map((field) => stored[field]),
        leaseKey ?? null,
        Math.max(0, Math.floor(historyLimit)),
        retry?.of ?? null,
        retry?.attempt ?? null,
        retry?.at ?? null
      ])
    },

    async abandonExpired (nowMs, reason) {
      const { rows } = await one<StoredRun>(`
        WITH expired AS (
          DELETE FROM ${n.leases}
          WHERE key = ANY (ARRAY(SELECT key FROM ${n.leases} WHERE expires_at <= $1 FOR UPDATE SKIP LOCKED))
          RETURNING owner
        )
        UPDATE ${n.runs} r SET status = 'abandoned', finished_at = $1, error = $3::text,
          duration_ms = GREATEST(0, $2::bigint - ${epochMs('r.started_at')})
        WHERE r.id = ANY (ARRAY(SELECT owner FROM expired)) AND r.status = 'running'
        RETURNING ${RUN_COLUMNS}`,
      [new Date(nowMs), nowMs, reason])
      return rows.map(runFromStored)
    },

    async scheduleRetry (task, retry) {
      await one(`UPDATE ${n.tasks} SET retry_of = $2, retry_attempt = $3, retry_at = $4 WHERE task = $1`,
        [task, retry.of, retry.attempt, retry.at])
    },

    async heartbeat (tick) {
      const { rows } = await one<{ last_tick: string | null } & Partial<TaskRow>>(`
        WITH tick AS (
          INSERT INTO ${n.meta} AS m (key, value) SELECT 'last_tick', $1::text WHERE $1::text IS NOT NULL
          ON CONFLICT (key) DO UPDATE SET value = GREATEST(m.value::bigint, EXCLUDED.value::bigint)::text
          RETURNING value
        ), last AS (
          SELECT COALESCE((SELECT value FROM tick), (SELECT value FROM ${n.meta} WHERE key = 'last_tick')) AS value
        )
        SELECT last.value AS last_tick, t.task, t.retry_of, t.retry_attempt, t.retry_at
        FROM last LEFT JOIN ${n.tasks} t ON t.retry_of IS NOT NULL
        ORDER BY t.task`, [tick === undefined ? null : String(tick.at.getTime())])
      const retries = rows.flatMap((row) => {
        const retry = row.task == null ? undefined : retryOf(row as TaskRow)
        return retry === undefined ? [] : [{ task: row.task!, ...retry }]
      })
      const lastTick = rows[0]?.last_tick
      return lastTick == null ? { retries } : { lastTick: new Date(Number(lastTick)), retries }
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
