/**
 * Run-history rules shared by every store, so "newest first", paging defaults and pruning
 * mean the same thing in memory, SQL and Lua.
 */
import type { HistoryQuery, RunRecord, RunStatus } from './store.js'

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
