/**
 * The PostgreSQL store's statements, built once per store from its table names. The
 * contract methods in `index.ts` run each as ONE statement (one round trip, atomic without
 * an explicit transaction); the design is in `docs/ARCHITECTURE.md#the-store-contract`.
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
 *   queue and never deadlock; `finishRun` and `retryAbandoned` follow the same order.
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
 * - The retry fences (`docs/ARCHITECTURE.md#retries`) are judged on the task row's LATEST
 *   version: `finishRun` always updates the row of a scheduled run (its `SET` computes from
 *   the row, so a concurrent writer's commit is re-read, never missed by an older snapshot),
 *   and `retryAbandoned` locks the task row, then reads the run row `FOR SHARE` (which
 *   follows a concurrent late result to its committed version).
 * - `abandonExpired` deletes expired leases locked `FOR UPDATE SKIP LOCKED` and flips their
 *   owners' `running` records, returning each to one caller; a lease another statement is
 *   taking over or releasing is skipped, never waited on.
 * - The fencing token comes from a sequence: monotonic across the cluster, and raised (never
 *   lowered) by `rebase`. The last tick is a meta row moved with `GREATEST` (epoch
 *   milliseconds as text). A pending retry is three nullable columns of the task row.
 *
 * Instants are `timestamptz` (Dates go in and come out with millisecond precision); run ids
 * use the "C" collation so "id descending" is the same byte order as in the other stores.
 */
import { SETTLED_STATUSES } from '../history.js'

/** Fully qualified, quoted names of every table, index and sequence, derived once from the options. */
export function tableNames (schema: string, tablePrefix: string) {
  const id = (name: string) => `"${name.replace(/"/g, '""')}"`
  const qualified = (name: string) => `${id(schema)}.${id(tablePrefix + name)}`
  return {
    schema: id(schema),
    meta: qualified('meta'),
    migrations: qualified('migrations'),
    tasks: qualified('tasks'),
    leases: qualified('leases'),
    runs: qualified('runs'),
    pauses: qualified('pauses'),
    leaseTokens: qualified('lease_tokens'),
    claims: qualified('claims'),
    claimsUntilIndex: id(`${tablePrefix}claims_until`),
    buffers: qualified('buffers'),
    backfills: qualified('backfills'),
    backfillsPendingIndex: id(`${tablePrefix}backfills_pending`),
    runsOccurrenceIndex: id(`${tablePrefix}runs_occurrence`),
    leasesExpiryIndex: id(`${tablePrefix}leases_expiry`),
    runsTaskIndex: id(`${tablePrefix}runs_task`),
    runsStartedIndex: id(`${tablePrefix}runs_started`)
  }
}

export type TableNames = ReturnType<typeof tableNames>

const SETTLED = SETTLED_STATUSES.map((status) => `'${status}'`).join(', ')
export const RUN_INSERT_COLUMNS = 'id, task, scheduled_for, trigger, started_at, finished_at, duration_ms, status, error, stack, attempt, forced, instance, ' +
  'output, covers_from, covers_to, covers_count, payload'
/** The fields of migrations 7 (output, covers) and 5 (payload) as typed parameters from `$first` on. */
const extraParams = (first: number) => `$${first}::text, $${first + 1}::timestamptz, $${first + 2}::timestamptz, $${first + 3}::int, $${first + 4}::text`
/** The 13 run fields as typed parameters $1..$13, in RUN_FIELDS order. */
const RUN_PARAMS = '$1::text, $2::text, $3::timestamptz, $4::text, $5::timestamptz, $6::timestamptz, $7::bigint, ' +
  '$8::text, $9::text, $10::text, $11::int, $12::boolean, $13::text'
/** Epoch milliseconds of a timestamptz column, for durations computed in SQL. */
const epochMs = (column: string) => `round(extract(epoch FROM ${column}) * 1000)::bigint`
/** The fencing counter: the largest token handed out, 0 before the first. */
const fenceSql = (n: TableNames) => `(SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM ${n.leaseTokens})`
/** What a task's state is read as (`ensureTasks`, `rebase`). */
export const TASK_COLUMNS = 'task, first_seen, last_occurrence, retry_of, retry_attempt, retry_at'

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

/**
 * startRun's statement. Parameters: $1..$13 the run (RUN_PARAMS), $14 the claim, $15 the
 * lease key (null: no lease), $16 now, $17 the lease expiry, $18 now in ms, $19 the history
 * limit, $20 the reason given to a run whose expired lease is taken over, $21 the overlap
 * action (null, 'bufferOne', 'cancelOther'), $22 the reason of a buffered record (both only in the overlap statement), then output,
 * covers and payload ($21..$25, or $23..$27 in the overlap statement). The claim also
 * records the attempt it claimed (`last_attempt`: 1 for an occurrence, the retry's number
 * for a retry), in the same UPDATE, so the claim costs no more writes than before.
 *
 * Overlap policies (docs/OVERLAP.md): a buffered run is a row of its own table (the task
 * row is already updated by the claim, and a statement may change a row only once). A held
 * lease under `bufferOne`/`cancelOther` inserts it (`ON CONFLICT DO NOTHING`: one at most),
 * and under `cancelOther` the lease upsert names its owner `superseded`. The `buffer` claim
 * locks the buffered row `FOR UPDATE` (a concurrent claimer that deleted it first makes it
 * vanish for the others), takes the lease like any start, and deletes the row only when it
 * got the lease; a held lease writes nothing (`busy`).
 */
export function startRunSql (n: TableNames, overlap = false): string {
  const expired = 'l.expires_at <= $16::timestamptz'
  // The overlap parts, only in the statement for tasks that buffer: every other start runs
  // the statement as it was, at its cost (bench/claims.ts). A superseded mark names the run
  // it applies to, so a later holder, taking the lease through either statement, never
  // inherits it.
  const pending = overlap
    ? `), pending AS (
  SELECT 1 FROM ${n.buffers} WHERE $14::text = 'buffer' AND task = $2::text AND occurrence = $3::timestamptz FOR UPDATE`
    : ''
  const fromPending = overlap ? ' UNION ALL SELECT 1 FROM pending WHERE NOT EXISTS (SELECT 1 FROM pause)' : ''
  const supersede = overlap
    ? `,
    superseded = CASE WHEN ${expired} THEN NULL
      WHEN $21::text = 'cancelOther' AND $14::text = 'occurrence' AND NOT EXISTS (SELECT 1 FROM ${n.buffers} WHERE task = $2::text) THEN l.owner
      ELSE l.superseded END`
    : ''
  const buffering = overlap
    ? `), buffering AS (
  INSERT INTO ${n.buffers} (task, occurrence)
  SELECT $2::text, $3::timestamptz FROM outcome WHERE skipped AND $21::text IS NOT NULL AND $14::text = 'occurrence'
  ON CONFLICT (task) DO NOTHING
  RETURNING 1
), unbuffered AS (
  DELETE FROM ${n.buffers} WHERE EXISTS (SELECT 1 FROM pending) AND task = $2::text AND (SELECT owner FROM lease) = $1::text
  RETURNING 1`
    : ''
  const skippedError = overlap ? "CASE WHEN EXISTS (SELECT 1 FROM buffering) THEN $22::text ELSE 'overlap' END" : "'overlap'"
  const busy = overlap ? "NOT ($14::text = 'buffer' AND skipped) AND " : ''
  const counts = overlap ? ', (SELECT count(*) FROM buffering) AS buffered' : ', 0 AS buffered'
  return `
WITH state AS (
  SELECT first_seen FROM ${n.tasks} WHERE task = $2::text
), pause AS (
  -- A paused task claims nothing (docs/PAUSE.md): the pause of everything ('') first.
  SELECT task, since, reason, paused_by FROM ${n.pauses} WHERE $14::text <> 'none' AND task IN ('', $2::text) ORDER BY task LIMIT 1
), claim AS (
  UPDATE ${n.tasks} SET
    last_occurrence = CASE WHEN $14::text = 'occurrence' THEN $3::timestamptz ELSE last_occurrence END,
    last_attempt = CASE WHEN $14::text = 'occurrence' THEN 1 ELSE $11::int END,
    retry_of = NULL, retry_attempt = NULL, retry_at = NULL
  WHERE task = $2::text AND CASE $14::text
    WHEN 'occurrence' THEN first_seen <= $3::timestamptz AND (last_occurrence IS NULL OR last_occurrence < $3::timestamptz)
    WHEN 'retry' THEN retry_of = $3::timestamptz AND retry_attempt = $11::int
    ELSE false END AND NOT EXISTS (SELECT 1 FROM pause)
  RETURNING 1
${pending}), go AS (
  SELECT 1 FROM claim UNION ALL SELECT 1 WHERE $14::text = 'none'${fromPending}
), lease AS (
  INSERT INTO ${n.leases} AS l (key, owner, expires_at, token)
  SELECT $15::text, $1::text, $17::timestamptz, nextval('${n.leaseTokens}') FROM go WHERE $15::text IS NOT NULL
  ON CONFLICT (key) DO UPDATE SET
    taken_from = CASE WHEN ${expired} THEN l.owner END,
    token = CASE WHEN ${expired} THEN EXCLUDED.token ELSE l.token END,
    owner = CASE WHEN ${expired} THEN EXCLUDED.owner ELSE l.owner END,
    expires_at = CASE WHEN ${expired} THEN EXCLUDED.expires_at ELSE l.expires_at END${supersede}
  RETURNING owner, token, taken_from
), abandoned AS (
  UPDATE ${n.runs} r SET status = 'abandoned', finished_at = $16::timestamptz,
    duration_ms = GREATEST(0, $18::bigint - ${epochMs('r.started_at')}), error = $20::text
  WHERE r.id = (SELECT taken_from FROM lease WHERE owner = $1::text) AND r.status = 'running'
  RETURNING r.id
), outcome AS (
  SELECT $15::text IS NOT NULL AND (SELECT owner FROM lease) IS DISTINCT FROM $1::text AS skipped FROM go
${buffering}), bound AS (
  ${boundSql(n, '$19::int', 'EXISTS (SELECT 1 FROM go)')}
), written AS (
  INSERT INTO ${n.runs} (${RUN_INSERT_COLUMNS})
  SELECT $1::text, $2::text, $3::timestamptz, $4::text, $5::timestamptz,
    CASE WHEN skipped THEN $5::timestamptz ELSE $6::timestamptz END,
    CASE WHEN skipped THEN 0 ELSE $7::bigint END,
    CASE WHEN skipped THEN 'skipped' ELSE $8::text END,
    CASE WHEN NOT skipped THEN $9::text ELSE ${skippedError} END,
    $10::text, $11::int, $12::boolean, $13::text, ${extraParams(overlap ? 23 : 21)}
  FROM outcome
  WHERE ${busy}(($8::text = 'running' AND NOT skipped) OR (${keptSql('$19::int')}))
  ON CONFLICT (id) DO NOTHING
  RETURNING 1
), pruned AS (
  ${prunedSql(n)}
)
SELECT (SELECT first_seen FROM state) AS first_seen, EXISTS (SELECT 1 FROM go) AS go,
  (SELECT owner FROM lease) AS owner, (SELECT token FROM lease) AS token, (SELECT id FROM abandoned) AS abandoned,
  (SELECT count(*) FROM written) AS written, (SELECT count(*) FROM pruned) AS pruned${counts},
  (SELECT task FROM pause) AS pause_task, (SELECT since FROM pause) AS pause_since,
  (SELECT reason FROM pause) AS pause_reason, (SELECT paused_by FROM pause) AS pause_by`
}

/**
 * finishRun's statement. Parameters: $1..$13 the run, $14 the lease key to release (null:
 * keep it), $15 the history limit, $16..$18 the pending retry (nulls: none), $19..$23 output, covers and payload. Locks in
 * startRun's order: task row (retry fence), lease row (release), run rows.
 *
 * The fence (`docs/ARCHITECTURE.md#retries`): a scheduled run's task row is always
 * updated, so the row lock is taken and `SET` reads the latest committed version (a
 * `WHERE` that filtered on the retry columns would judge them by the statement's snapshot,
 * and a `retryAbandoned` committing meanwhile would be missed). While `last_occurrence` is
 * the run's occurrence, `retry` is armed only by the newest attempt claimed for it (NULL
 * `last_attempt`, from before the column existed, counts as this attempt), and a success
 * clears a pending retry of that occurrence; otherwise the row keeps its retry.
 */
export function finishRunSql (n: TableNames): string {
  const current = 'last_occurrence = $3::timestamptz'
  const arm = `${current} AND $16::timestamptz IS NOT NULL AND COALESCE(last_attempt, $11::int) = $11::int`
  // A success cancels the retry of its occurrence, also one it arms itself (as the reference store does).
  const cancel = `${current} AND $8::text = 'succeeded' AND (CASE WHEN ${arm} THEN $16::timestamptz ELSE retry_of END) = $3::timestamptz`
  const column = (name: string, value: string) =>
    `${name} = CASE WHEN ${cancel} THEN NULL WHEN ${arm} THEN ${value} ELSE ${name} END`
  return `
WITH retry AS (
  UPDATE ${n.tasks} SET ${column('retry_of', '$16::timestamptz')}, ${column('retry_attempt', '$17::int')},
    ${column('retry_at', '$18::timestamptz')}
  WHERE task = $2::text AND NOT $12::boolean
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
  SELECT ${RUN_PARAMS}, ${extraParams(19)} FROM keep WHERE kept
  ON CONFLICT (id) DO UPDATE SET task = EXCLUDED.task, scheduled_for = EXCLUDED.scheduled_for,
    trigger = EXCLUDED.trigger, started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
    duration_ms = EXCLUDED.duration_ms, status = EXCLUDED.status, error = EXCLUDED.error, stack = EXCLUDED.stack,
    attempt = EXCLUDED.attempt, forced = EXCLUDED.forced, instance = EXCLUDED.instance,
    output = EXCLUDED.output, covers_from = EXCLUDED.covers_from, covers_to = EXCLUDED.covers_to, covers_count = EXCLUDED.covers_count, payload = EXCLUDED.payload
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

/**
 * retryAbandoned's statement. Parameters: $1 the run id, $2 its task, $3 its occurrence,
 * $4 its attempt, $5 forced, $6..$8 the retry. The task row is locked first (startRun's
 * order), then the run row is read `FOR SHARE`: a late result committed meanwhile is read in
 * its committed version, so a record no longer `abandoned` arms nothing. The final `UPDATE`
 * re-checks the fence against the locked task row.
 */
export function retryAbandonedSql (n: TableNames): string {
  return `
WITH task AS (
  SELECT 1 FROM ${n.tasks} WHERE task = $2::text AND NOT $5::boolean FOR UPDATE
), run AS (
  SELECT 1 FROM ${n.runs} WHERE id = $1::text AND status = 'abandoned' AND EXISTS (SELECT 1 FROM task) FOR SHARE
)
UPDATE ${n.tasks} SET retry_of = $6::timestamptz, retry_attempt = $7::int, retry_at = $8::timestamptz
WHERE task = $2::text AND EXISTS (SELECT 1 FROM run)
  AND last_occurrence = $3::timestamptz AND COALESCE(last_attempt, $4::int) = $4::int
RETURNING 1`
}

/** abandonExpired's statement. Parameters: $1 now, $2 now in ms, $3 the reason. */
export function abandonExpiredSql (n: TableNames, runColumns: string): string {
  return `
WITH expired AS (
  DELETE FROM ${n.leases}
  WHERE key = ANY (ARRAY(SELECT key FROM ${n.leases} WHERE expires_at <= $1 FOR UPDATE SKIP LOCKED))
  RETURNING owner
)
UPDATE ${n.runs} r SET status = 'abandoned', finished_at = $1, error = $3::text,
  duration_ms = GREATEST(0, $2::bigint - ${epochMs('r.started_at')})
WHERE r.id = ANY (ARRAY(SELECT owner FROM expired)) AND r.status = 'running'
RETURNING ${runColumns}`
}

/**
 * heartbeat's statement. Parameter: $1 the tick in epoch ms as text (null: read only). One
 * row per pending retry (one row of nulls beside the state when there is none), each with
 * the last tick, the fencing counter and the pauses in force (a JSON array, null for none).
 */
export function heartbeatSql (n: TableNames): string {
  return `
WITH tick AS (
  INSERT INTO ${n.meta} AS m (key, value) SELECT 'last_tick', $1::text WHERE $1::text IS NOT NULL
  ON CONFLICT (key) DO UPDATE SET value = GREATEST(m.value::bigint, EXCLUDED.value::bigint)::text
  RETURNING value
), last AS (
  SELECT COALESCE((SELECT value FROM tick), (SELECT value FROM ${n.meta} WHERE key = 'last_tick')) AS value,
    ${fenceSql(n)} AS fence,
    (SELECT array_agg(task ORDER BY task) FROM ${n.buffers}) AS buffered_tasks,
    (SELECT array_agg(${epochMs('occurrence')}::text ORDER BY task) FROM ${n.buffers}) AS buffered_at,
    (SELECT json_agg(json_build_object('task', task, 'since', ${epochMs('since')}, 'reason', reason, 'paused_by', paused_by) ORDER BY task)
      FROM ${n.pauses}) AS pauses,
    (SELECT json_agg(json_build_object('id', id, 'task', task, 'from_ms', ${epochMs('from_at')}, 'to_ms', ${epochMs('to_at')},
      'total', total, 'next_ms', ${epochMs('next_at')}, 'done', done, 'skipped', skipped, 'created_at', ${epochMs('created_at')}) ORDER BY created_at, id)
      FROM ${n.backfills} WHERE next_at IS NOT NULL) AS backfills
)
SELECT last.value AS last_tick, last.fence, last.buffered_tasks, last.buffered_at, last.pauses, last.backfills, t.task, t.retry_of, t.retry_attempt, t.retry_at
FROM last LEFT JOIN ${n.tasks} t ON t.retry_of IS NOT NULL
ORDER BY t.task`
}

/**
 * rebase's statement. Parameters: $1 the task names (unique, sorted: rows are locked in one
 * order), $2 first seen, $3 the fence. Rows are created or first seen again with their
 * pending retries dropped (`last_occurrence` and `last_attempt` kept); the sequence is
 * raised to the fence when it is behind (`setval` only moves it forward here, and a
 * `setval` to 0 would be out of the sequence's range). One row per task; one row of nulls
 * when no name is given, so the fence is raised all the same.
 */
export function rebaseSql (n: TableNames): string {
  return `
WITH rows AS (
  INSERT INTO ${n.tasks} AS t (task, first_seen) SELECT unnest($1::text[]), $2::timestamptz
  ON CONFLICT (task) DO UPDATE SET first_seen = EXCLUDED.first_seen, retry_of = NULL, retry_attempt = NULL, retry_at = NULL
  RETURNING ${TASK_COLUMNS}
), raised AS (
  SELECT setval('${n.leaseTokens}', $3::bigint, true) WHERE $3::bigint > ${fenceSql(n)}
)
SELECT rows.*, raised.n AS raised FROM (SELECT count(*) AS n FROM raised) raised LEFT JOIN rows ON true`
}

/** pause's statement. Parameters: $1 the task ('' for everything), $2 since, $3 reason, $4 by. The pause in force. */
export function pauseSql (n: TableNames): string {
  return `
WITH added AS (
  INSERT INTO ${n.pauses} (task, since, reason, paused_by) VALUES ($1::text, $2::timestamptz, $3::text, $4::text)
  ON CONFLICT (task) DO NOTHING
  RETURNING task, since, reason, paused_by
)
SELECT * FROM added UNION ALL SELECT task, since, reason, paused_by FROM ${n.pauses} WHERE task = $1::text AND NOT EXISTS (SELECT 1 FROM added)`
}
