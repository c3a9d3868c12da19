/**
 * The store contract (docs/ARCHITECTURE.md#the-store-contract). Every implementation — memory, sqlite, redis,
 * postgres, or a third party's — passes the same conformance suite
 * (`fastify-scheduler/testing`, source in `plugin/stores/conformance.ts`). The design and
 * the fault model behind it are in `docs/ARCHITECTURE.md`.
 *
 * Atomicity: each method is ONE atomic step in the store (a transaction, a Lua script, one
 * statement). A process may die between any two calls, and any call may fail or never
 * answer; the contract is shaped so that every such interruption leaves either nothing
 * (the occurrence is still owed) or a `running` record with a lease (reaped as
 * `abandoned`). In particular `startRun` claims the occurrence, takes the lease and writes
 * the `running` record in one step.
 *
 * Time: occurrences are UTC instants computed by the scheduler from the tick's `now`.
 * Leases take `nowMs` from the scheduler, which reads it in the store's time: its own clock
 * corrected by the offset it measures against `time()` (network stores), and it refuses to
 * claim anything while that offset exceeds `maxClockSkew`. No store reads its own clock for
 * lease decisions: that keeps behaviour identical across implementations and lets tests
 * move time without sleeping. See `docs/ARCHITECTURE.md#time`.
 */
import type { RecordedTrigger } from '../../tasks/types.js'

/** Status of a run in the history. */
export type RunStatus =
  | 'running' | 'succeeded' | 'failed' | 'timed_out' | 'abandoned' | 'skipped' | 'missed' | 'cancelled'

/** `cancelled`: a run superseded by a newer occurrence under `overlap: 'cancelOther'` (docs/OVERLAP.md). */
export const RUN_STATUSES: readonly RunStatus[] = [
  'running', 'succeeded', 'failed', 'timed_out', 'abandoned', 'skipped', 'missed', 'cancelled'
]

/** Statuses of a run that ended (everything but `running`). */
export type FinalStatus = Exclude<RunStatus, 'running'>

/** One row of run history. */
export interface RunRecord {
  /** Unique run id (a UUID). */
  id: string
  task: string
  /** The occurrence run (for forced runs: the minute it was forced). */
  scheduledFor: Date
  /** What started the run; `'manual'` only in records written by older versions. */
  trigger: RecordedTrigger
  startedAt: Date
  /** Undefined while running. */
  finishedAt?: Date
  durationMs?: number
  status: RunStatus
  /**
   * Error message (failed/timed_out/abandoned/cancelled), or the reason (skipped: `'overlap'`
   * or a buffered overlap's words, missed: `'late by 42 min'`).
   */
  error?: string
  /** Stack of a failed run. */
  stack?: string
  /** 1 for the first run of an occurrence, 2 for its first retry, and so on. */
  attempt: number
  /** True for a run started with `force`, ignoring the schedule. */
  forced: boolean
  /** Which process ran it (`host:pid`), when known. */
  instance?: string
  /** The payload of a forced run, as JSON text (at most `maxPayloadSize` bytes; docs/PAYLOADS.md#payloads). */
  payload?: string
  /**
   * What the task logged through `ctx.log` during the run: the last lines, redacted, bounded
   * by the `runOutput` option (docs/RUN-OUTPUT.md). Absent when it logged nothing.
   */
  output?: string
  /**
   * The occurrences this run stands for when catch-up coalesced several missed ones into it
   * (`from` the oldest, `to` the one run, `count` of them, at least 2). Absent otherwise.
   */
  covers?: RunCovers
}

/** Which occurrences a coalesced run stands for (docs/RUN-OUTPUT.md#covers). */
export interface RunCovers {
  from: Date
  to: Date
  count: number
}

/** A retry of a failed run waiting for its time: attempt `attempt` of the occurrence `of`, due at `at`. */
export interface PendingRetry {
  of: Date
  attempt: number
  at: Date
}

/** Per-task state kept by the store. */
export interface TaskState {
  /** The minute the store first saw the task's name. */
  firstSeen: Date
  /** The latest occurrence claimed, if any. */
  lastOccurrence?: Date
  /** The retry waiting to run, if any. */
  retry?: PendingRetry
}

/** A pause in force (docs/PAUSE.md): while it lasts `startRun` claims nothing for the task and answers `paused`. */
export interface PauseInfo {
  /** When the pause began. */
  since: Date
  /** Why, as the operator said it (or the error that tripped `pauseOnFailure`). */
  reason?: string
  /** Who paused (an operator's name, `cli`, `pauseOnFailure`…). */
  by?: string
}

/** A pause as the cluster state lists it: `task` null for the pause of everything (maintenance). */
export interface TaskPause extends PauseInfo {
  task: string | null
}

/** What `pause` stores: the pause of `task`, or of everything when `task` is absent. */
export interface PauseRequest extends PauseInfo {
  task?: string
}

/**
 * What `resume` does in one step: lift the pause of `task` (or of everything), and write
 * each record of `skip` (a `skipped` record of a task's last occurrence owed during the
 * pause) claiming its occurrence, as `startRun` with claim `occurrence` would (only if still
 * owed; a task without a state row is left alone).
 */
export interface ResumeRequest {
  task?: string
  skip?: RunRecord[]
  historyLimit: number
}

export interface HistoryQuery {
  /** Only these tasks (any of). */
  task?: string[]
  /** Only these statuses (any of). */
  status?: RunStatus[]
  /** Page size, default 50. */
  limit?: number
  /** Rows to skip, default 0. */
  offset?: number
}

export interface HistoryPage {
  /** Newest first (by startedAt, then id). */
  runs: RunRecord[]
  /** Number of rows matching the filter, ignoring limit/offset. */
  total: number
}

/**
 * What `startRun` claims besides the lease:
 * - `occurrence`: the occurrence `run.scheduledFor` of a scheduled run (or a `missed` record);
 * - `retry`: the pending retry `(run.scheduledFor, run.attempt)` of the task;
 * - `buffer`: the task's buffered run of occurrence `run.scheduledFor` (`overlap: 'bufferOne'`
 *   or `'cancelOther'`, docs/OVERLAP.md);
 * - `backfill`: the cursor of the backfill `backfill.id` at `run.scheduledFor` (docs/PAYLOADS.md#backfills):
 *   the cursor moves to `backfill.next` (finished when absent); `lastOccurrence` is not touched.
 * - `none`: nothing (forced runs).
 */
export type StartClaim = 'occurrence' | 'retry' | 'buffer' | 'backfill' | 'none'

/**
 * A backfill of past occurrences of a task (docs/PAYLOADS.md#backfills): the occurrences of
 * its schedule in [from, to], run oldest first; `next` is the cursor (absent once finished).
 */
export interface Backfill {
  id: string
  task: string
  from: Date
  to: Date
  /** Occurrences in the range, counted when the backfill was created. */
  total: number
  /** The next occurrence to run; absent when the backfill is finished. */
  next?: Date
  /** Occurrences run by the backfill. */
  done: number
  /** Occurrences that already had a run record (scheduled or backfilled): not rerun. */
  skipped: number
  createdAt: Date
}

/** What `createBackfill` stores: a new backfill, its cursor at its first occurrence. */
export interface BackfillRequest {
  id: string
  task: string
  from: Date
  to: Date
  total: number
  next: Date
  createdAt: Date
}

/**
 * What a claimed occurrence does when the lease is held (docs/OVERLAP.md); absent: it is
 * skipped. Only for `claim: 'occurrence'`.
 * - `bufferOne`: the occurrence becomes the task's buffered run, unless one is buffered already.
 * - `cancelOther`: the same, and the holder's lease is marked superseded (`renewLease`
 *   answers `'superseded'` to its owner).
 */
export type OverlapAction = 'bufferOne' | 'cancelOther'

/** A buffered run: the occurrence `of` of `task`, waiting for the lease to be free. */
export interface TaskBuffered {
  task: string
  of: Date
}

export interface StartRunRequest {
  /**
   * The record to write: `status: 'running'` for a run that starts (then `lease` is given),
   * or `status: 'missed'` (with `finishedAt`, `error`) for an occurrence recorded as missed.
   */
  run: RunRecord
  claim: StartClaim
  /** The task's lease: taken for `run.id` until `nowMs + ttlMs`. Absent for `missed` records. */
  lease?: { key: string, ttlMs: number, nowMs: number }
  /** Prune the task's history to this many rows (running rows are never pruned). */
  historyLimit: number
  /** What to do if the lease is held (claim `occurrence` only); absent: skip. */
  overlap?: OverlapAction
  /** Claim `backfill` only: the backfill whose cursor is claimed, and the occurrence after it (absent: the last one). */
  backfill?: { id: string, next?: Date }
}

/**
 * What `startRun` did, in one atomic step:
 * - `started`: claimed, lease taken (with a fencing token greater than any before it), the
 *   `running` record written. When the lease had expired in another run's hands, that run's
 *   record was set `abandoned` in the same step and its id is in `abandoned`.
 * - `recorded`: (no lease asked) claimed, and the record written as given (`missed`).
 * - `claimed`: the occurrence was already claimed (`lastOccurrence >= occurrence`), or the
 *   retry is no longer pending. Nothing was written.
 * - `overlap`: the lease is held by `holder` and has not expired. The claim was still made
 *   (the occurrence is spent) and a `skipped` record with reason `'overlap'` was written
 *   under `run.id`.
 *   With `overlap` given and no run buffered yet, `buffered` is answered instead.
 * - `buffered`: (claim `occurrence` with `overlap`) the lease is held by `holder`: the claim
 *   was made, the occurrence became the task's buffered run (at most one per task), a
 *   `skipped` record with the buffered reason (`bufferedRecord`) was written under `run.id`,
 *   and with `cancelOther` the holder's lease was marked superseded.
 * - `busy`: (claim `buffer`) the buffered run is there but the lease is held by `holder`
 *   and has not expired. Nothing was written; the run stays buffered.
 * - `stale`: the caller's view is behind the store: the task's state row is missing (the
 *   store lost its data) or the occurrence is before `firstSeen`. Nothing was written; the
 *   caller reloads its task states (`ensureTasks`) and decides again. Never for `none` nor
 *   `buffer` (a buffer that is not there answers `claimed`).
 * - `paused`: the task, or everything, is paused (`pause` says which: `task` null for
 *   everything). Checked before the claim, in the same step: nothing was claimed nor
 *   written, the occurrence is not owed. Never for `none` (a forced run is an operator's
 *   explicit act).
 *
 * A `buffer` claim that starts clears the buffered run; the lease it takes is not superseded.
 *
 * Claim `backfill`: `claimed` when the backfill's cursor is not at `run.scheduledFor` (it moved
 * on, or the backfill is gone), and also when the task already has a record of a run that
 * is not forced for that occurrence: then the cursor moves on and `skipped` counts it.
 * `busy` when the lease is held and has not expired: nothing is written, the cursor waits.
 * Otherwise `started`, and the cursor moves on counting it `done`. Never `stale`.
 */
export type StartRunResult =
  | { outcome: 'started', leaseToken: number, abandoned?: string }
  | { outcome: 'recorded' }
  | { outcome: 'claimed' }
  | { outcome: 'overlap', holder: string }
  | { outcome: 'buffered', holder: string }
  | { outcome: 'busy', holder: string }
  | { outcome: 'stale' }
  | { outcome: 'paused', pause: TaskPause }

export interface FinishRunOptions {
  /** Also release this lease if `run.id` still holds it (absent: keep the lease, e.g. on timeout). */
  leaseKey?: string
  historyLimit: number
  /** Also set the task's pending retry (replacing an older one). */
  retry?: PendingRetry
}

/** A retry as the cluster state lists it. */
export interface TaskRetry extends PendingRetry {
  task: string
}

/** What the whole cluster shares beyond task state (health is cluster-wide: docs/ARCHITECTURE.md#health). */
export interface ClusterState {
  /** The latest tick any process recorded. */
  lastTick?: Date
  /** Every pending retry, of every task. */
  retries: TaskRetry[]
  /**
   * The store's fencing counter: the largest lease token handed out so far (0 before the
   * first). It never goes down in a store that kept its state; a process that sees it smaller
   * than a token it was given knows the store went back in time (see `rebase`).
   */
  fence: number
  /** Every buffered run (docs/OVERLAP.md), of every task. */
  buffered: TaskBuffered[]
  /** Every pause in force (the pause of everything has `task` null), ordered by task, null first. */
  paused: TaskPause[]
  /** Every backfill not yet finished, oldest first (by `createdAt`, then id). */
  backfills: Backfill[]
}

/** Given to `init`: where a store may say something at boot (e.g. "Redis keeps nothing on disk"). */
export interface StoreInitContext {
  log: { warn: (obj: object, msg: string) => void }
}

export interface Store {
  /** Which implementation this is, shown in the listing: `'sqlite'`, `'redis'`, any string for a third-party store. */
  readonly kind: string
  /** False when state is lost with the process (the memory store). */
  readonly durable: boolean

  /** Open connections, create tables. Called by the plugin before the first use and retried after a failure. Idempotent. */
  init (context?: StoreInitContext): Promise<void>
  /** Close what this store opened (never a client or pool the user passed in). Idempotent. */
  close (): Promise<void>

  /**
   * Return the state of each named task, creating it with `firstSeen` for names never seen
   * (or whose state was lost). An existing `firstSeen` is never changed.
   */
  ensureTasks (names: readonly string[], firstSeen: Date): Promise<Map<string, TaskState>>

  /**
   * One atomic step: claim (see `StartClaim`), take the lease, write the record. See
   * `StartRunResult` for the outcomes. Among any number of concurrent callers for one
   * (task, occurrence) or (task, retry) exactly one gets `started`, `recorded` or `overlap`.
   * Claiming an occurrence moves `lastOccurrence` forward and clears the pending retry.
   */
  startRun (request: StartRunRequest): Promise<StartRunResult>

  /**
   * Extend the lease `key` to `nowMs + ttlMs` if `owner` still holds it — also when it has
   * expired, as long as nobody else took it and no reaper removed it. False otherwise: the
   * run has lost its lease. `'superseded'` when it was extended but a newer occurrence
   * superseded the run (`overlap: 'cancelOther'`): the run is to stop (docs/OVERLAP.md).
   */
  renewLease (key: string, owner: string, ttlMs: number, nowMs: number): Promise<boolean | 'superseded'>
  /** Remove the lease only if `owner` holds it. False otherwise. */
  releaseLease (key: string, owner: string): Promise<boolean>

  /**
   * Write a run's final record (status other than `running`) by id, unless the stored record
   * already has a final status other than `abandoned` (so a late retry of the same write
   * changes nothing, and a finished run's record replaces an `abandoned` mark). In the same
   * step: release `leaseKey` if the run holds it, and prune the task's history.
   *
   * Fenced to the newest attempt (a result may land long after the run ended, see
   * `docs/ARCHITECTURE.md#late-results`). For a run that is not forced, and only while the
   * task's `lastOccurrence` is `run.scheduledFor`:
   * - `retry` becomes the task's pending retry only if `run.attempt` is the newest attempt
   *   claimed for that occurrence (a late `failed` never re-arms a retry that already ran);
   * - a `succeeded` run clears a pending retry of that occurrence (a late success cancels a
   *   retry that has not started).
   * Otherwise `retry` is ignored. Idempotent.
   */
  finishRun (run: RunRecord, options: FinishRunOptions): Promise<void>

  /**
   * One atomic step: remove every lease expired at `nowMs` and set each owner's `running`
   * record to `abandoned` (`finishedAt` = `nowMs`, with `reason` as its error). Returns the
   * records it changed; each is returned to exactly one caller, even under concurrency.
   */
  abandonExpired (nowMs: number, reason: string): Promise<RunRecord[]>

  /**
   * The retry of a run that `abandonExpired` marked `abandoned`, fenced like `finishRun`'s:
   * one step that sets `retry` as the task's pending retry only if the stored record
   * `run.id` is still `abandoned` (no late result replaced it), the run is not forced, the
   * task's `lastOccurrence` is `run.scheduledFor` and `run.attempt` is the newest attempt
   * claimed for it. True when the retry was set.
   */
  retryAbandoned (run: RunRecord, retry: PendingRetry): Promise<boolean>

  /**
   * Read the cluster state; with `tick`, first record that a tick happened at `tick.at`
   * (the stored last tick only moves forward).
   */
  heartbeat (tick?: { at: Date, instance: string }): Promise<ClusterState>

  /**
   * The store went back in time (a failover to a lagging replica, a restore from an old
   * snapshot, a replaced file): the caller saw a fencing token larger than the store's
   * counter. One step: every named task is first seen at `firstSeen` (rows created when
   * missing; `lastOccurrence` kept), every pending retry of those tasks is dropped, and the
   * fencing counter is raised to at least `fence`, so no token is ever handed out twice.
   * Returns the task states, as `ensureTasks` does.
   */
  rebase (names: readonly string[], firstSeen: Date, fence: number): Promise<Map<string, TaskState>>

  /**
   * Pause a task (or everything, without `task`) for every replica: from now on `startRun`
   * answers `paused` for it (claims `occurrence` and `retry`). A pause already in force is
   * kept as it is (its `since` does not move). Returns the pause in force.
   */
  pause (request: PauseRequest): Promise<TaskPause>

  /**
   * Lift the pause of a task (or of everything, without `task`) and, in the same step, write
   * the `skip` records (see `ResumeRequest`). Returns the pause lifted, or undefined when
   * none was in force (then nothing is written).
   */
  resume (request: ResumeRequest): Promise<TaskPause | undefined>

  /**
   * The store's own clock (ms since the epoch), for network stores whose clock is the clock
   * of record (Redis `TIME`, PostgreSQL `clock_timestamp()`). Stores that share the host's
   * clock (memory, SQLite) leave it out; the scheduler then measures no skew.
   */
  time? (): Promise<number>

  /**
   * Claim `key` once (a signed trigger's `jti`, see docs/TRIGGERS.md): true for the first call
   * with that key, false for every later one while the claim is remembered. The claim is kept
   * at least until `until`, and may be forgotten afterwards (the token it guards has expired
   * by then). Among concurrent callers for one key exactly one gets true. Optional for
   * third-party stores; the built-in ones have it, and `auth.qstash` needs it.
   */
  claimOnce? (key: string, until: Date): Promise<boolean>

  /**
   * Store a backfill, unless one of the same task and range is not finished yet: then that
   * one is returned as it is (sending a backfill twice runs it once).
   */
  createBackfill (request: BackfillRequest): Promise<Backfill>

  /** Run history, newest first. */
  listRuns (query: HistoryQuery): Promise<HistoryPage>
  /** The newest `limit` runs of each named task, newest first (tasks with none are absent). */
  recentRuns (tasks: readonly string[], limit: number): Promise<Map<string, RunRecord[]>>
}

/** Every method a store must have, checked when the plugin is registered. */
export const STORE_METHODS = [
  'init', 'close', 'ensureTasks', 'startRun', 'renewLease', 'releaseLease', 'finishRun',
  'abandonExpired', 'retryAbandoned', 'heartbeat', 'rebase', 'pause', 'resume', 'createBackfill', 'listRuns', 'recentRuns'
] as const satisfies ReadonlyArray<keyof Store>

/** Why a value is not a store (`undefined` when it is one): names every missing method. */
export function whyNotAStore (value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'not an object'
  const store = value as Record<string, unknown>
  const missing = STORE_METHODS.filter(method => typeof store[method] !== 'function')
  if (missing.length > 0) return `missing method${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`
  if (typeof store.kind !== 'string' || store.kind === '') return 'kind must be a non-empty string'
  if (typeof store.durable !== 'boolean') return 'durable must be a boolean'
  return undefined
}
