/**
 * The PostgreSQL store's schema as an ordered list of numbered migrations (graphile-worker's
 * `sql/000001.sql…` are the model), applied in order at init under an advisory lock, each
 * once: the `migrations` table records what ran. Never edit an entry that has shipped; add
 * the next one. `breaking` marks a migration that code written before it must not run
 * against: a process that finds an applied migration it does not know refuses to start when
 * that migration is breaking (see `docs/ARCHITECTURE.md#the-store-contract`).
 *
 * Tables written before the list existed carry their version in the meta row
 * `schema_version` (1 or 2): they are recorded as having run migrations 1..version, and only
 * the later ones run. The meta row is still moved to the newest migration, so code from
 * before the list (which refused a `schema_version` it did not know) refuses newer tables too.
 */
import type { Query } from './connection.js'
import type { TableNames } from './statements.js'

export interface Migration {
  /** 1, 2, 3, …: the order they run in. */
  id: number
  /** Code that does not know this migration must not run against tables that had it. */
  breaking: boolean
  /** The DDL, for the store's table names. */
  sql: (n: TableNames) => string
}

export const MIGRATIONS: readonly Migration[] = [
  {
    // The first release's tables (test/fixtures/postgres-v1-schema.sql is a copy).
    id: 1,
    breaking: true,
    sql: (n) => `
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
CREATE INDEX IF NOT EXISTS ${n.runsStartedIndex} ON ${n.runs} (started_at DESC, id DESC);`
  },
  {
    // Retries, fencing tokens, forced runs. The defaults make older rows valid (attempt 1,
    // not forced, no pending retry); the sequence hands out the fencing tokens.
    id: 2,
    breaking: true,
    sql: (n) => `
ALTER TABLE ${n.tasks} ADD COLUMN IF NOT EXISTS retry_of timestamptz,
  ADD COLUMN IF NOT EXISTS retry_attempt integer, ADD COLUMN IF NOT EXISTS retry_at timestamptz;
ALTER TABLE ${n.leases} ADD COLUMN IF NOT EXISTS token bigint, ADD COLUMN IF NOT EXISTS taken_from text;
ALTER TABLE ${n.runs} ADD COLUMN IF NOT EXISTS attempt integer NOT NULL DEFAULT 1,
  ADD COLUMN IF NOT EXISTS forced boolean NOT NULL DEFAULT false, ADD COLUMN IF NOT EXISTS instance text;
CREATE SEQUENCE IF NOT EXISTS ${n.leaseTokens};`
  },
  {
    // The newest attempt claimed of the last occurrence, which fences retries
    // (docs/ARCHITECTURE.md#retries). NULL on older rows reads as "unknown": the fences pass.
    // Breaking: older code would claim without recording the attempt, and the fences would
    // then read one left by an earlier occurrence.
    id: 3,
    breaking: true,
    sql: (n) => `ALTER TABLE ${n.tasks} ADD COLUMN IF NOT EXISTS last_attempt integer;`
  },
  {
    // Pauses in force, per task ('' for the pause of everything: docs/PAUSE.md). Breaking:
    // older code would start paused tasks.
    id: 4,
    breaking: true,
    sql: (n) => `CREATE TABLE IF NOT EXISTS ${n.pauses} (task text PRIMARY KEY, since timestamptz NOT NULL, reason text, paused_by text);`
  },
  {
    // The payload of a forced run, as JSON text (docs/PAYLOADS.md#payloads). Not breaking:
    // older code ignores the column.
    id: 5,
    breaking: false,
    sql: (n) => `ALTER TABLE ${n.runs} ADD COLUMN IF NOT EXISTS payload text;`
  },
  {
    // Overlap policies (docs/OVERLAP.md): each task's buffered run, and on a lease the run id
    // a newer occurrence superseded. Numbers 4 and 5 belong to other features; tables may skip
    // them. Breaking: older code would neither start buffered runs nor stop superseded ones.
    id: 6,
    breaking: true,
    sql: (n) => `
      CREATE TABLE IF NOT EXISTS ${n.buffers} (task text PRIMARY KEY, occurrence timestamptz NOT NULL);
      ALTER TABLE ${n.leases} ADD COLUMN IF NOT EXISTS superseded text COLLATE "C";`
  },
  {
    // Each run's output and the occurrences a coalesced run covers (docs/RUN-OUTPUT.md).
    // Not breaking: older code leaves the columns null, and a null reads as "none".
    id: 7,
    breaking: false,
    sql: (n) => `
ALTER TABLE ${n.runs} ADD COLUMN IF NOT EXISTS output text,
  ADD COLUMN IF NOT EXISTS covers_from timestamptz, ADD COLUMN IF NOT EXISTS covers_to timestamptz,
  ADD COLUMN IF NOT EXISTS covers_count integer;`
  },
  {
    // claimOnce keys (the jti of signed triggers), each remembered until its expiry. Not
    // breaking: older code never reads the table. (4 to 7 belong to other features.)
    id: 8,
    breaking: false,
    sql: (n) => `
CREATE TABLE IF NOT EXISTS ${n.claims} (
  key text PRIMARY KEY,
  until timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS ${n.claimsUntilIndex} ON ${n.claims} (until);`
  },
  {
    // Backfills of past occurrences, each with its cursor (docs/PAYLOADS.md#backfills), and
    // runs found by occurrence. Not breaking: older code never reads the table.
    id: 9,
    breaking: false,
    sql: (n) => `
CREATE TABLE IF NOT EXISTS ${n.backfills} (
  id text PRIMARY KEY,
  task text NOT NULL,
  from_at timestamptz NOT NULL,
  to_at timestamptz NOT NULL,
  total integer NOT NULL,
  next_at timestamptz,
  done integer NOT NULL DEFAULT 0,
  skipped integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS ${n.backfillsPendingIndex} ON ${n.backfills} (task, from_at, to_at) WHERE next_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS ${n.runsOccurrenceIndex} ON ${n.runs} (task, scheduled_for);`
  }
]

/** The newest migration this code knows. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.id

/** Thrown (and reported as the store's init error) when the tables are newer than this code. */
export function newerSchemaError (schema: string, version: number): Error {
  return new Error(`the tables in schema ${schema} are at schema ${version}, written by a newer fastify-scheduler; ` +
    `this one knows ${SCHEMA_VERSION}: upgrade the package`)
}

export interface MigrationResult {
  /** Migrations this call ran, in order. */
  applied: number[]
  /** Applied migrations this code does not know (none of them breaking, or it would have thrown). */
  unknown: number[]
}

/**
 * Bring the tables up to date in one transaction on `query`'s client: the advisory lock lets
 * processes booting together wait for the one that migrates, then find nothing to do.
 * `schema` is the schema's plain name (for the lookup and the messages).
 */
export async function migrate (query: Query, n: TableNames, schema: string): Promise<MigrationResult> {
  await query('BEGIN')
  await query('SELECT pg_advisory_xact_lock(hashtext($1))', [`fastify-scheduler:${n.tasks}`])
  const { rowCount } = await query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])
  if (rowCount === 0) await query(`CREATE SCHEMA ${n.schema}`)
  const { rows: [found] } = await query<{ migrations: string | null, meta: string | null }>(
    'SELECT to_regclass($1) AS migrations, to_regclass($2) AS meta', [n.migrations, n.meta])
  if (found!.migrations === null) {
    await query(`CREATE TABLE ${n.migrations} (
      id integer PRIMARY KEY,
      breaking boolean NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`)
    // Tables from before the list: their meta row says how far they got.
    const legacy = found!.meta === null
      ? 0
      : Number((await query<{ value: string }>(`SELECT value FROM ${n.meta} WHERE key = 'schema_version'`)).rows[0]?.value ?? 0)
    if (legacy > SCHEMA_VERSION) throw newerSchemaError(schema, legacy)
    const done = MIGRATIONS.filter((m) => m.id <= legacy)
    if (done.length > 0) {
      await query(`INSERT INTO ${n.migrations} (id, breaking) SELECT unnest($1::int[]), unnest($2::boolean[])`,
        [done.map((m) => m.id), done.map((m) => m.breaking)])
    }
  }
  const { rows } = await query<{ id: number, breaking: boolean }>(`SELECT id, breaking FROM ${n.migrations} ORDER BY id`)
  const unknown = rows.filter((row) => row.id > SCHEMA_VERSION)
  if (unknown.some((row) => row.breaking)) throw newerSchemaError(schema, unknown[unknown.length - 1]!.id)
  const ran = new Set(rows.map((row) => row.id))
  const applied: number[] = []
  for (const migration of MIGRATIONS) {
    if (ran.has(migration.id)) continue
    await query(migration.sql(n))
    await query(`INSERT INTO ${n.migrations} (id, breaking) VALUES ($1, $2)`, [migration.id, migration.breaking])
    applied.push(migration.id)
  }
  if (applied.length > 0) {
    await query(`INSERT INTO ${n.meta} (key, value) VALUES ('schema_version', $1)
      ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, [String(SCHEMA_VERSION)])
  }
  await query('COMMIT')
  return { applied, unknown: unknown.map((row) => row.id) }
}
