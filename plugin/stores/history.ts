/**
 * Run-history rules shared by every store, so "newest first", paging defaults and pruning
 * mean the same thing in memory, SQL and Lua.
 */
import type { Backfill, HistoryQuery, RunRecord, RunStatus, TaskPause } from './store.js'

/** Page size when a query gives none. */
export const DEFAULT_PAGE_SIZE = 50

/** Resolved paging of a history query: limit defaults to 50, offset to 0, both whole and >= 0. */
export function pageOfRuns (query: HistoryQuery): { limit: number, offset: number } {
  const limit = query.limit === undefined ? DEFAULT_PAGE_SIZE : Math.max(0, Math.floor(query.limit))
  const offset = query.offset === undefined ? 0 : Math.max(0, Math.floor(query.offset))
  return { limit, offset }
}

/** Sort order of history: startedAt descending, then id descending. */
export function compareRunsNewestFirst (a: RunRecord, b: RunRecord): number {
  const byStart = b.startedAt.getTime() - a.startedAt.getTime()
  if (byStart !== 0) return byStart
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0
}

/**
 * The rows of one task that pruning removes: those ranked after the newest `historyLimit`
 * (newest first), except rows still `running`, which are never pruned.
 */
export function pruneVictims (runsOfTask: readonly RunRecord[], historyLimit: number): RunRecord[] {
  const keep = Math.max(0, Math.floor(historyLimit))
  return [...runsOfTask].sort(compareRunsNewestFirst).slice(keep).filter((r) => r.status !== 'running')
}

/** The `skipped` record `startRun` writes when the lease is held: ended as it started, reason `'overlap'`. */
export function overlapRecord (run: RunRecord): RunRecord {
  return { ...run, status: 'skipped', finishedAt: run.startedAt, durationMs: 0, error: 'overlap' }
}

/** The reason of the `skipped` record of an occurrence buffered by `overlap: 'bufferOne'` or `'cancelOther'`. */
export const BUFFERED_REASON = 'overlap: buffered, runs when the running run ends'

/** The `skipped` record `startRun` writes when it buffers the occurrence (outcome `buffered`). */
export function bufferedRecord (run: RunRecord): RunRecord {
  return { ...run, status: 'skipped', finishedAt: run.startedAt, durationMs: 0, error: BUFFERED_REASON }
}

/** The error of a run whose expired lease another `startRun` took over (every store writes the same words). */
export const TAKEOVER_REASON = 'lease expired: the process running it stopped renewing it'

/** Final statuses that `finishRun` never overwrites (`abandoned` it does: the run did finish). */
export const SETTLED_STATUSES: readonly RunStatus[] = ['succeeded', 'failed', 'timed_out', 'skipped', 'missed', 'cancelled']

/** Pauses ordered as the cluster state lists them: everything (null) first, then by task. */
export function comparePauses (a: TaskPause, b: TaskPause): number {
  if (a.task === b.task) return 0
  if (a.task === null) return -1
  if (b.task === null) return 1
  return a.task < b.task ? -1 : 1
}

/** Pause reasons and names are kept to this many characters (they are shown, not parsed). */
export const PAUSE_TEXT_MAX = 500

/** A pause row as stores keep it: `task` '' for the pause of everything. */
export interface StoredPause { task: string, since: number, reason: string | null, paused_by: string | null }

/** A stored pause row, back as the contract's `TaskPause`. */
export function pauseFromStored (row: StoredPause): TaskPause {
  const pause: TaskPause = { task: row.task === '' ? null : row.task, since: new Date(Number(row.since)) }
  if (row.reason !== null) pause.reason = row.reason
  if (row.paused_by !== null) pause.by = row.paused_by
  return pause
}

/** A backfill as the SQL and Lua stores keep it: instants in epoch ms (numbers or numeric text), `next_ms` null once finished. */
export interface StoredBackfill {
  id: string
  task: string
  from_ms: number | string
  to_ms: number | string
  total: number | string
  next_ms: number | string | null
  done: number | string
  skipped: number | string
  created_at: number | string
}

/** A stored backfill as the store contract returns it (docs/PAYLOADS.md#backfills). */
export function backfillFromStored (row: StoredBackfill): Backfill {
  const backfill: Backfill = {
    id: row.id,
    task: row.task,
    from: new Date(Number(row.from_ms)),
    to: new Date(Number(row.to_ms)),
    total: Number(row.total),
    done: Number(row.done),
    skipped: Number(row.skipped),
    createdAt: new Date(Number(row.created_at))
  }
  if (row.next_ms !== null && row.next_ms !== '') backfill.next = new Date(Number(row.next_ms))
  return backfill
}
