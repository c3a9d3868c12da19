/**
 * The SQLite store's schema, as an ordered list of numbered migrations (graphile-worker's
 * numbered `sql/000001.sql…` are the model). At open, every migration newer than the file's
 * `schema_version` runs, in order, in ONE `BEGIN IMMEDIATE` transaction: two processes
 * opening one old file migrate it once, and a failure leaves the file as it was.
 *
 * A migration is `breaking` when code that does not know it would mishandle a file that has
 * it (it writes rows the old code would leave inconsistent). The file records its newest
 * breaking migration as `schema_breaking`; code that finds a newer breaking migration than
 * it knows refuses the file, with what to do. Newer non-breaking ones (an index) are
 * harmless and tolerated. Contract: `docs/ARCHITECTURE.md#the-store-contract`.
 */
import type Database from 'better-sqlite3'

export interface Migration {
  /** 1, 2, 3 … in order, never reused. */
  version: number
  /** What it changes, for people reading the list. */
  description: string
  /** Statements run as one script. */
  sql: string
  /** Older code must refuse a file that has it. */
  breaking: boolean
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'the first release: meta, task rows, leases, run history',
    breaking: true,
    sql: `
      CREATE TABLE IF NOT EXISTS fastify_scheduler_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS fastify_scheduler_tasks (task TEXT PRIMARY KEY, first_seen INTEGER NOT NULL, last_occurrence INTEGER);
      CREATE TABLE IF NOT EXISTS fastify_scheduler_leases (key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS fastify_scheduler_leases_expiry ON fastify_scheduler_leases (expires_at);
      CREATE TABLE IF NOT EXISTS fastify_scheduler_runs (
        id TEXT PRIMARY KEY, task TEXT NOT NULL, scheduled_for INTEGER NOT NULL, trigger TEXT NOT NULL,
        started_at INTEGER NOT NULL, finished_at INTEGER, duration_ms INTEGER, status TEXT NOT NULL, error TEXT, stack TEXT
      );
      CREATE INDEX IF NOT EXISTS fastify_scheduler_runs_task ON fastify_scheduler_runs (task, started_at DESC, id DESC);
      CREATE INDEX IF NOT EXISTS fastify_scheduler_runs_started ON fastify_scheduler_runs (started_at DESC, id DESC);`
  },
  {
    // Breaking: code before it claims occurrences without clearing a pending retry.
    version: 2,
    description: 'pending retries on the task row; attempt, forced and instance on each run (old rows: attempt 1, not forced)',
    breaking: true,
    sql: `
      ALTER TABLE fastify_scheduler_tasks ADD COLUMN retry_of INTEGER;
      ALTER TABLE fastify_scheduler_tasks ADD COLUMN retry_attempt INTEGER;
      ALTER TABLE fastify_scheduler_tasks ADD COLUMN retry_at INTEGER;
      ALTER TABLE fastify_scheduler_runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
      ALTER TABLE fastify_scheduler_runs ADD COLUMN forced INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE fastify_scheduler_runs ADD COLUMN instance TEXT;`
  },
  {
    // Breaking: code before it claims a new occurrence without resetting last_attempt, which
    // would then fence off that occurrence's retries (docs/ARCHITECTURE.md#late-results).
    version: 3,
    description: "the newest attempt claimed of the task's last occurrence (NULL on old rows: unknown, fences pass)",
    breaking: true,
    sql: 'ALTER TABLE fastify_scheduler_tasks ADD COLUMN last_attempt INTEGER;'
  },
  {
    // Breaking: code before it starts runs of a paused task (docs/PAUSE.md).
    version: 4,
    description: "pauses in force, per task ('' for the pause of everything)",
    breaking: true,
    sql: 'CREATE TABLE IF NOT EXISTS fastify_scheduler_pauses (task TEXT PRIMARY KEY, since INTEGER NOT NULL, reason TEXT, paused_by TEXT);'
  },
  {
    // The payload of a forced run, as JSON text (docs/PAYLOADS.md#payloads). Not breaking:
    // older code ignores the column.
    version: 5,
    description: 'the payload of a forced run (JSON text, NULL for none)',
    breaking: false,
    sql: 'ALTER TABLE fastify_scheduler_runs ADD COLUMN payload TEXT;'
  },
  {
    // Numbers 4 and 5 belong to other features (pause, steer); a file may skip them.
    // Breaking: code before it takes over a lease without clearing `superseded`, so the new
    // holder would be told it was superseded (docs/OVERLAP.md).
    version: 6,
    description: "overlap policies: the task's buffered run (an occurrence), and a lease's superseded mark",
    breaking: true,
    sql: `
      ALTER TABLE fastify_scheduler_tasks ADD COLUMN buffered INTEGER;
      ALTER TABLE fastify_scheduler_leases ADD COLUMN superseded INTEGER NOT NULL DEFAULT 0;`
  },
  {
    // Not breaking: older code leaves the columns NULL, which reads as "none" (docs/RUN-OUTPUT.md).
    version: 7,
    description: "each run's output (its last logged lines) and the occurrences a coalesced run covers",
    breaking: false,
    sql: `
      ALTER TABLE fastify_scheduler_runs ADD COLUMN output TEXT;
      ALTER TABLE fastify_scheduler_runs ADD COLUMN covers_from INTEGER;
      ALTER TABLE fastify_scheduler_runs ADD COLUMN covers_to INTEGER;
      ALTER TABLE fastify_scheduler_runs ADD COLUMN covers_count INTEGER;`
  },
  {
    // Not breaking: older code never reads the table. (4 to 7 belong to other features.)
    version: 8,
    description: 'claimOnce keys (the jti of signed triggers), each remembered until its expiry',
    breaking: false,
    sql: `
      CREATE TABLE IF NOT EXISTS fastify_scheduler_claims (key TEXT PRIMARY KEY, until_ms INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS fastify_scheduler_claims_until ON fastify_scheduler_claims (until_ms);`
  },
  {
    // Not breaking: older code never reads the table (docs/PAYLOADS.md#backfills).
    version: 9,
    description: 'backfills of past occurrences, each with its cursor; runs found by occurrence',
    breaking: false,
    sql: `
      CREATE TABLE IF NOT EXISTS fastify_scheduler_backfills (
        id TEXT PRIMARY KEY, task TEXT NOT NULL, from_ms INTEGER NOT NULL, to_ms INTEGER NOT NULL,
        total INTEGER NOT NULL, next_ms INTEGER, done INTEGER NOT NULL DEFAULT 0,
        skipped INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS fastify_scheduler_backfills_pending ON fastify_scheduler_backfills (task, from_ms, to_ms) WHERE next_ms IS NOT NULL;
      CREATE INDEX IF NOT EXISTS fastify_scheduler_runs_occurrence ON fastify_scheduler_runs (task, scheduled_for);`
  }
]

/** The newest schema this code knows. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version

function metaValue (db: Database.Database, key: string): number | undefined {
  const row = db.prepare<[string], { value: string }>('SELECT value FROM fastify_scheduler_meta WHERE key = ?').get(key)
  return row === undefined ? undefined : Number(row.value)
}

/**
 * Bring the file up to `SCHEMA_VERSION` under the write lock (throws SQLITE_BUSY while
 * another process holds it: the caller retries from a timer). A file whose newest breaking
 * migration is newer than this code is refused.
 */
export function migrate (db: Database.Database, migrations: readonly Migration[] = MIGRATIONS): void {
  const known = migrations[migrations.length - 1]!.version
  db.transaction(() => {
    const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'fastify_scheduler_meta'").get() !== undefined
    const version = hasMeta ? metaValue(db, 'schema_version') ?? 0 : 0
    if (version > known) {
      // Files written before `schema_breaking` existed count every migration as breaking.
      const breaking = metaValue(db, 'schema_breaking') ?? version
      if (breaking > known) {
        throw new Error(`the database file was written by a newer fastify-scheduler (schema ${version}, this one knows ${known}): upgrade the package`)
      }
      return
    }
    const pending = migrations.filter((m) => m.version > version)
    if (pending.length === 0) return
    for (const migration of pending) db.exec(migration.sql)
    const setMeta = db.prepare(`INSERT INTO fastify_scheduler_meta (key, value) VALUES (?, ?)
      ON CONFLICT (key) DO UPDATE SET value = excluded.value`)
    setMeta.run('schema_version', String(known))
    const newestBreaking = Math.max(...migrations.filter((m) => m.breaking).map((m) => m.version))
    setMeta.run('schema_breaking', String(newestBreaking))
  }).immediate()
}
