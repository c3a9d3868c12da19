/**
 * What `app.scheduler.list()` and `health()` answer, as pure functions of what the scheduler
 * read: the scheduler (`scheduler.ts`) is the tick engine and gathers the inputs; these
 * views only shape them (docs/ARCHITECTURE.md#health).
 */
import type { ResolvedTask } from '../tasks/types.js'
import type { RunRecord } from './stores/store.js'
import type { HealthReport, RunSummary, TaskListing } from './types.js'

const FAILED_STATUSES = new Set(['failed', 'timed_out', 'abandoned'])

export interface TaskListingInput {
  nowMs: number
  /** How many next occurrences to list (at least 1). */
  upcoming: number
  /** How many recent runs to list. */
  recent: number
  /** A run of the task is going on in this process (its record may not say so yet). */
  runningHere: boolean
  /** Runs an occurrence may get in all (1 without retries). */
  attempts: number
}

/** One task of the listing, from its newest runs (newest first). */
export function taskListing (task: ResolvedTask, runs: readonly RunRecord[], input: TaskListingInput): TaskListing {
  const upcoming: string[] = []
  let after = new Date(input.nowMs)
  while (task.enabled && upcoming.length < input.upcoming) {
    const next = task.schedule.next(after)
    if (next === undefined) break
    upcoming.push(next.toISOString())
    after = next
  }
  const lastFinished = runs.find(run => run.status !== 'running' && run.status !== 'skipped')
  const running = runs.find(run => run.status === 'running')
  return {
    name: task.name,
    schedule: task.schedule.describe(),
    cron: task.schedule.cron ?? null,
    timezone: task.timezone,
    enabled: task.enabled,
    manual: task.schedule.manual,
    nextRun: upcoming[0] ?? null,
    upcoming,
    lastRun: lastFinished === undefined ? null : runSummary(lastFinished),
    running: running === undefined
      ? null
      : { id: running.id, startedAt: running.startedAt.toISOString(), attempt: running.attempt, forced: running.forced, instance: running.instance ?? null },
    runningNow: running !== undefined || input.runningHere,
    consecutiveFailures: consecutiveFailures(runs),
    retries: input.attempts,
    recent: runs.slice(0, input.recent).map(runSummary),
    source: task.source,
    acceptsPayload: task.payload !== undefined
  }
}

export interface HealthInput {
  nowMs: number
  /** The cluster's last whole tick (any replica's). */
  lastTick: Date | undefined
  expectTickEveryMs: number
  /** Why the cluster state could not be read. */
  storeError?: string | undefined
  /** Why this process claims nothing: its clock is too far from the store's. */
  skew?: string | undefined
  /** Why the store is not trusted: it went back in time. */
  wentBack?: string | undefined
  /** Why the last tick could not use the store. */
  storeFault?: string | undefined
}

/** The dead-man's switch: the first reason for 503, or ok. Names no task. */
export function healthReport (input: HealthInput): HealthReport {
  const lastTick = input.lastTick?.toISOString() ?? null
  const unhealthy = (status: HealthReport['status'], reason: string): HealthReport => ({ healthy: false, status, lastTick, reason })
  if (input.storeError !== undefined) return unhealthy('store unreachable', 'the store cannot be reached')
  if (input.skew !== undefined) return unhealthy('clock skew', `${input.skew}: no task is claimed`)
  if (input.wentBack !== undefined) return unhealthy('store went back in time', input.wentBack)
  if (input.storeFault !== undefined) return unhealthy('store unreachable', 'the last tick could not reach the store')
  const every = `expected every ${Math.round(input.expectTickEveryMs / 1000)} s`
  if (lastTick === null) return unhealthy('no tick yet', `no tick has reached any replica yet (${every})`)
  if (input.nowMs - input.lastTick!.getTime() > input.expectTickEveryMs) return unhealthy('stale', `no tick since ${lastTick} (${every})`)
  return { healthy: true, status: 'ok', lastTick, reason: `last tick ${lastTick}` }
}

/** A run as the listing shows it: instants as ISO strings, absent values as null. */
export function runSummary (run: RunRecord): RunSummary {
  return {
    id: run.id,
    status: run.status,
    startedAt: run.startedAt.toISOString(),
    finishedAt: run.finishedAt?.toISOString() ?? null,
    durationMs: run.durationMs ?? null,
    error: run.error ?? null,
    attempt: run.attempt,
    forced: run.forced,
    trigger: run.trigger
  }
}

/** Failed, timed-out or abandoned runs in a row, newest first (skips, misses and the running run don't break the row). */
function consecutiveFailures (runs: readonly RunRecord[]): number {
  let count = 0
  for (const run of runs) {
    if (run.status === 'running' || run.status === 'skipped' || run.status === 'missed') continue
    if (!FAILED_STATUSES.has(run.status)) break
    count++
  }
  return count
}

export function latest (a: Date | undefined, b: Date | undefined): Date | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  return a.getTime() >= b.getTime() ? a : b
}
