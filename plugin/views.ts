/**
 * What `app.scheduler.list()` and `health()` answer, as pure functions of what the scheduler
 * read: the scheduler (`scheduler.ts`) is the tick engine and gathers the inputs; these
 * views only shape them (docs/ARCHITECTURE.md#health).
 */
import type { ResolvedTask } from '../tasks/types.js'
import type { Backfill, RunRecord, TaskPause } from './stores/store.js'
import type { BackfillInfo, HealthReport, PausedInfo, RunSummary, TaskListing } from './types.js'

const FAILED_STATUSES = new Set(['failed', 'timed_out', 'abandoned'])

export interface TaskListingInput {
  nowMs: number
  /** How many next occurrences to list (at least 1). */
  upcoming: number
  /** How many recent runs to list. */
  recent: number
  /** A run of the task is going on in this process (its record may not say so yet). */
  runningHere: boolean
  /** Retries configured after a failed run (0 without retries). */
  retries: number
  /** The pause that stops the task, if any (its own, else the pause of everything). */
  paused?: TaskPause | undefined
  /** The task's backfills in progress (docs/PAYLOADS.md#backfills). */
  backfills?: readonly Backfill[]
}

/** A stored backfill as the listing and `backfill()` show it. */
export function backfillView (backfill: Backfill): BackfillInfo {
  return {
    id: backfill.id,
    task: backfill.task,
    from: backfill.from.toISOString(),
    to: backfill.to.toISOString(),
    occurrences: backfill.total,
    done: backfill.done,
    skipped: backfill.skipped,
    next: backfill.next?.toISOString() ?? null,
    createdAt: backfill.createdAt.toISOString()
  }
}

/** A stored pause as the listing shows it. */
export function pausedView (pause: TaskPause): PausedInfo {
  return { since: pause.since.toISOString(), reason: pause.reason ?? null, by: pause.by ?? null, all: pause.task === null }
}

/** The pause that stops `task`: its own, else the pause of everything. */
export function pauseOf (paused: readonly TaskPause[], task: string): TaskPause | undefined {
  return paused.find(p => p.task === task) ?? paused.find(p => p.task === null)
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
    retries: input.retries,
    recent: runs.slice(0, input.recent).map(runSummary),
    source: task.source,
    paused: input.paused === undefined ? null : pausedView(input.paused),
    acceptsPayload: task.payload !== undefined,
    backfills: (input.backfills ?? []).filter(b => b.task === task.name).map(backfillView)
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
  /** How many tasks are paused: reported, never a reason for 503. */
  paused?: number
  /** Tasks failing and overdue, cluster-wide (undefined: not read). */
  counts?: TaskCounts | undefined
  /** A failing task turns health 503 (`failingTasksUnhealthy`). */
  failingUnhealthy?: boolean
}

/** What health counts (counts only: health is unauthenticated and names no task). */
export interface TaskCounts {
  /** Tasks whose last finished run failed, timed out or was abandoned. */
  failing: number
  /** Enabled scheduled tasks with an occurrence older than `expectTickEvery` that has no record. */
  overdue: number
}

/** `n task(s) failing, m overdue`. */
export function countsInWords (counts: TaskCounts): string {
  return `${counts.failing} task${counts.failing === 1 ? '' : 's'} failing, ${counts.overdue} overdue`
}

/**
 * Whether `task` is failing and whether it is overdue, from its newest runs (newest first):
 * overdue when its latest occurrence at least `graceMs` old (at or after `firstSeen` when
 * known) has no record of a scheduled run, a skip or a miss.
 */
export function taskHealth (task: ResolvedTask, runs: readonly RunRecord[], nowMs: number, graceMs: number, firstSeen: Date | undefined): { failing: boolean, overdue: boolean } {
  const failing = consecutiveFailures(runs) > 0
  if (!task.enabled || task.schedule.manual) return { failing, overdue: false }
  const o = task.schedule.previous(new Date(nowMs - graceMs))
  if (o === undefined) return { failing, overdue: false }
  if (firstSeen !== undefined ? o.getTime() < firstSeen.getTime() : runs.length === 0) return { failing, overdue: false }
  const seen = runs.some(run => !run.forced && run.scheduledFor.getTime() >= o.getTime())
  return { failing, overdue: !seen }
}

/** The dead-man's switch: the first reason for 503, or ok. Names no task. */
export function healthReport (input: HealthInput): HealthReport {
  const lastTick = input.lastTick?.toISOString() ?? null
  const paused = input.paused ?? 0
  const tasks = input.counts === undefined ? {} : { tasks: { ...input.counts } }
  const unhealthy = (status: HealthReport['status'], reason: string): HealthReport => ({ healthy: false, status, lastTick, reason, paused, ...tasks })
  if (input.storeError !== undefined) return unhealthy('store unreachable', 'the store cannot be reached')
  if (input.skew !== undefined) return unhealthy('clock skew', `${input.skew}: no task is claimed`)
  if (input.wentBack !== undefined) return unhealthy('store went back in time', input.wentBack)
  if (input.storeFault !== undefined) return unhealthy('store unreachable', 'the last tick could not reach the store')
  const every = `expected every ${Math.round(input.expectTickEveryMs / 1000)} s`
  if (lastTick === null) return unhealthy('no tick yet', `no tick has reached any replica yet (${every})`)
  if (input.nowMs - input.lastTick!.getTime() > input.expectTickEveryMs) return unhealthy('stale', `no tick since ${lastTick} (${every})`)
  const counts = input.counts
  const pausedWords = paused > 0 ? `; ${paused} paused` : ''
  if (counts !== undefined && input.failingUnhealthy === true && counts.failing > 0) {
    return unhealthy('failing', `${countsInWords(counts)} (failingTasksUnhealthy is on); last tick ${lastTick}${pausedWords}`)
  }
  return { healthy: true, status: 'ok', lastTick, paused, ...tasks, reason: `last tick ${lastTick}${counts === undefined ? '' : `; ${countsInWords(counts)}`}${pausedWords}` }
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
    covers: coversJson(run),
    output: run.output ?? null,
    trigger: run.trigger
  }
}

/** A run's covers as JSON (ISO instants), null when it stands for its own occurrence only. */
export function coversJson (run: RunRecord): RunSummary['covers'] {
  return run.covers === undefined ? null : { from: run.covers.from.toISOString(), to: run.covers.to.toISOString(), count: run.covers.count }
}

/** Failed, timed-out or abandoned runs in a row, newest first (skips, misses, cancelled runs and the running run don't break the row). */
export function consecutiveFailures (runs: readonly RunRecord[]): number {
  let count = 0
  for (const run of runs) {
    if (run.status === 'running' || run.status === 'skipped' || run.status === 'missed' || run.status === 'cancelled') continue
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
