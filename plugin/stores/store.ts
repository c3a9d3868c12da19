/**
 * The store contract (SPEC §4–5). Every implementation — memory, sqlite, redis, postgres —
 * passes the same conformance suite (`test/stores/conformance.ts`).
 *
 * Time: occurrences are UTC instants computed by the scheduler from the tick's `now`.
 * Leases take `nowMs` from the scheduler's clock (default `Date.now`), so replicas are
 * assumed to have synchronised clocks (NTP), exactly as the tick's `now` already assumes.
 * No store reads its own clock for lease decisions: that keeps behaviour identical across
 * implementations and lets tests move time without sleeping.
 */
import type { RunTrigger } from '../../tasks/types.js'

/** Status of a run in the history. */
export type RunStatus =
  | 'running' | 'succeeded' | 'failed' | 'timed_out' | 'abandoned' | 'skipped' | 'missed'

export const RUN_STATUSES: readonly RunStatus[] = [
  'running', 'succeeded', 'failed', 'timed_out', 'abandoned', 'skipped', 'missed'
]

/** One row of run history. */
export interface RunRecord {
  /** Unique run id (a UUID). */
  id: string
  task: string
  /** The occurrence run (for forced runs: the minute it was forced). */
  scheduledFor: Date
  trigger: RunTrigger
  startedAt: Date
  /** Undefined while running. */
  finishedAt?: Date
  durationMs?: number
  status: RunStatus
  /** Error message (failed/timed_out), or the reason (skipped: `'overlap'`, missed: `'late by 42 min'`). */
  error?: string
  /** Stack of a failed run. */
  stack?: string
}

/** Per-task state kept by the store. */
export interface TaskState {
  /** The minute the store first saw the task's name. */
  firstSeen: Date
  /** The latest occurrence claimed, if any. */
  lastOccurrence?: Date
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

/** A lease that had expired and was removed by `reapExpiredLeases`. */
export interface ExpiredLease {
  key: string
  owner: string
}

export type StoreKind = 'memory' | 'sqlite' | 'redis' | 'postgres'

export interface Store {
  /** Which implementation this is (shown in the listing). */
  readonly kind: StoreKind
  /** False for the memory store: state is lost with the process. */
  readonly durable: boolean

  /** Open connections, create tables. Called once by the plugin before the first use. Idempotent. */
  init (): Promise<void>
  /** Close what this store opened (never a client or pool the user passed in). Idempotent. */
  close (): Promise<void>

  /**
   * Return the state of each named task, creating it with `firstSeen = firstSeen` for names
   * never seen before. An existing `firstSeen` is never changed.
   */
  ensureTasks (names: readonly string[], firstSeen: Date): Promise<Map<string, TaskState>>

  /**
   * Atomically claim an occurrence: succeeds (true) only when the task's `lastOccurrence`
   * is unset or strictly earlier than `occurrence`, and then sets it to `occurrence`.
   * Among any number of concurrent callers for one (task, occurrence) exactly one wins.
   * `lastOccurrence` only ever moves forward. The task's state must exist (`ensureTasks`).
   */
  claimOccurrence (task: string, occurrence: Date): Promise<boolean>

  /**
   * Take the lease `key` for `owner` until `nowMs + ttlMs`. Succeeds when there is no lease
   * or the existing one expired (`expiresAt <= nowMs`). When it replaces an expired lease,
   * the previous owner is returned in `expiredOwner` so the caller can mark that run abandoned.
   */
  acquireLease (key: string, owner: string, ttlMs: number, nowMs: number): Promise<{ acquired: boolean, expiredOwner?: string }>
  /** Extend a lease still held by `owner` (not expired). False when it is not held by `owner`. */
  renewLease (key: string, owner: string, ttlMs: number, nowMs: number): Promise<boolean>
  /** Remove the lease only if `owner` holds it. False otherwise. */
  releaseLease (key: string, owner: string): Promise<boolean>
  /**
   * Atomically remove every lease expired at `nowMs` and return them. Each expired lease is
   * returned to exactly one caller, even under concurrency.
   */
  reapExpiredLeases (nowMs: number): Promise<ExpiredLease[]>

  /**
   * Insert or replace (by `id`) a run record, then prune the task's history to the newest
   * `historyLimit` rows (by startedAt). Rows with status `running` are never pruned.
   */
  recordRun (run: RunRecord, historyLimit: number): Promise<void>
  /**
   * Set a run's status to `abandoned` (with `finishedAt`) only if it is still `running`.
   * Returns true when it changed the row.
   */
  markAbandoned (runId: string, finishedAt: Date): Promise<boolean>
  /** Run history, newest first. */
  listRuns (query: HistoryQuery): Promise<HistoryPage>
  /** The newest run record of each named task (tasks with none are absent). */
  lastRuns (tasks: readonly string[]): Promise<Map<string, RunRecord>>
}
