/**
 * The arithmetic of steering a schedule (docs/PAUSE.md, docs/PAYLOADS.md#backfills), as pure
 * functions the scheduler calls: what a pause held back and the `skipped` records a resume
 * writes for it, the tasks a resume frees, a backfill's range checked and counted, and its
 * cursor moved. No store, no clock, no state of their own: the scheduler passes them what it
 * read, so each is tested on its own.
 */
import { randomUUID } from 'node:crypto'
import type { ResolvedTask } from '../tasks/types.js'
import { InvalidInputError } from '../core/errors.js'
import { floorToMinute, MINUTE } from '../core/time.js'
import { PAUSE_TEXT_MAX } from './stores/history.js'
import type { Backfill, RunRecord, TaskPause, TaskState } from './stores/store.js'
import type { ResumeAnswer } from './types.js'

/** Occurrences counted at most when a resume reports what a pause held back. */
export const MAX_COUNTED_OCCURRENCES = 100_000

/** A pause's reason or name, kept to PAUSE_TEXT_MAX characters; empty means none. */
export function pauseText (value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const text = String(value).trim()
  return text === '' ? undefined : text.slice(0, PAUSE_TEXT_MAX)
}

/** How many of `taskNames` are paused, by their own pause or the pause of everything. */
export function pausedCount (paused: readonly TaskPause[], taskNames: ReadonlySet<string> | ReadonlyMap<string, unknown>): number {
  if (paused.some(p => p.task === null)) return taskNames.size
  return paused.filter(p => p.task !== null && taskNames.has(p.task)).length
}

/** The occurrences a pause held back: how many, the first, the last and the one before it. */
export interface HeldBack { count: number, first: Date, last: Date, beforeLast: Date | undefined }

/**
 * The occurrences of `task` owed and held back by a pause that began at `sinceMs`: at or
 * after the pause, after the task's last claimed occurrence and its first sighting, up to
 * `nowMs` (counted up to MAX_COUNTED_OCCURRENCES). Undefined when there are none.
 */
export function heldBack (task: ResolvedTask, state: TaskState, sinceMs: number, nowMs: number): HeldBack | undefined {
  const floor = Math.max(floorToMinute(sinceMs), state.firstSeen.getTime(), (state.lastOccurrence?.getTime() ?? -Infinity) + 1)
  let at = task.schedule.previous(new Date(floor))
  if (at === undefined || at.getTime() < floor) at = task.schedule.next(new Date(floor - 1))
  let count = 0
  let first: Date | undefined
  let last: Date | undefined
  let beforeLast: Date | undefined
  while (at !== undefined && at.getTime() <= nowMs && count < MAX_COUNTED_OCCURRENCES) {
    first ??= at
    beforeLast = last
    last = at
    count++
    at = task.schedule.next(at)
  }
  return count === 0 ? undefined : { count, first: first!, last: last!, beforeLast }
}

/**
 * The scheduled tasks that lifting `pause` lets run again: with a task named, that task unless
 * everything is paused too; without one, every task that has no pause of its own.
 */
export function freedBy (pause: TaskPause, paused: readonly TaskPause[], tasks: Iterable<ResolvedTask>): ResolvedTask[] {
  const pausedAll = paused.some(p => p.task === null)
  return [...tasks].filter(task => task.enabled && !task.schedule.manual &&
    (pause.task === null ? !paused.some(p => p.task === task.name) : task.name === pause.task && !pausedAll))
}

/**
 * What a resume records for the occurrences `pause` held back, one `skipped` record per freed
 * task ("paused: N occurrences from … to …", dated at the last of them). With `catchUp` the
 * latest occurrence is left owed, for the resume's own tick to run.
 */
export function resumeSkips (freed: readonly ResolvedTask[], states: ReadonlyMap<string, TaskState>, pause: TaskPause,
  nowMs: number, catchUp: boolean, instance: string): { records: RunRecord[], skipped: ResumeAnswer['skipped'] } {
  const records: RunRecord[] = []
  const skipped: ResumeAnswer['skipped'] = []
  for (const task of freed) {
    const state = states.get(task.name)
    const held = state === undefined ? undefined : heldBack(task, state, pause.since.getTime(), nowMs)
    if (held === undefined) continue
    const count = catchUp ? held.count - 1 : held.count
    const to = catchUp ? held.beforeLast : held.last
    if (count < 1 || to === undefined) continue
    const from = held.first
    const at = new Date(nowMs)
    records.push({
      id: randomUUID(),
      task: task.name,
      scheduledFor: to,
      trigger: 'api',
      startedAt: at,
      finishedAt: at,
      durationMs: 0,
      status: 'skipped',
      error: `paused: ${count} occurrence${count === 1 ? '' : 's'} from ${from.toISOString()} to ${to.toISOString()}`,
      attempt: 1,
      forced: false,
      instance
    })
    skipped.push({ task: task.name, occurrences: count, from: from.toISOString(), to: to.toISOString() })
  }
  return { records, skipped }
}

/** The first occurrence of `task` in [from, to] and how many there are (counted up to `limit`). */
export function occurrencesIn (task: ResolvedTask, from: Date, to: Date, limit: number): { first: Date | undefined, count: number } {
  // `next` is strictly after a whole minute: start from the minute before the first whole minute at or after `from`.
  const startMs = Math.ceil(from.getTime() / MINUTE) * MINUTE - MINUTE
  const first = task.schedule.next(new Date(startMs))
  let count = 0
  let at = first
  while (at !== undefined && at.getTime() <= to.getTime() && count < limit) {
    count += 1
    at = task.schedule.next(at)
  }
  return { first: count === 0 ? undefined : first, count }
}

/**
 * Check a backfill's range for `task` at `nowMs` and count its occurrences: the first and how
 * many. Throws InvalidInputError naming what is wrong (an invalid or reversed range, one
 * reaching into the future, a manual-only task, no occurrence, more than `maxBackfill`).
 */
export function backfillRange (task: ResolvedTask, from: unknown, to: unknown, nowMs: number, maxBackfill: number): { first: Date, count: number } {
  if (!(from instanceof Date) || Number.isNaN(from.getTime())) throw new InvalidInputError('backfill: from must be a valid instant')
  if (!(to instanceof Date) || Number.isNaN(to.getTime())) throw new InvalidInputError('backfill: to must be a valid instant')
  if (from.getTime() > to.getTime()) throw new InvalidInputError(`backfill: from (${from.toISOString()}) is after to (${to.toISOString()})`)
  if (to.getTime() > nowMs) throw new InvalidInputError(`backfill: the range ends in the future (to ${to.toISOString()} is after now ${new Date(nowMs).toISOString()})`)
  if (task.schedule.manual) throw new InvalidInputError(`backfill: task "${task.name}" has no schedule (manual only)`)
  const { first, count } = occurrencesIn(task, from, to, 100 * maxBackfill + 1)
  if (count > maxBackfill) {
    throw new InvalidInputError(`backfill: the range holds ${count > 100 * maxBackfill ? `more than ${100 * maxBackfill}` : count} occurrences of task "${task.name}"; maxBackfill is ${maxBackfill}`)
  }
  if (first === undefined) throw new InvalidInputError(`backfill: the range holds no occurrence of task "${task.name}"`)
  return { first, count }
}

/** The occurrence of a backfill after `at`, or undefined when `at` was its last. */
export function cursorAfter (task: ResolvedTask, backfill: Backfill, at: Date): Date | undefined {
  const following = task.schedule.next(at)
  return following !== undefined && following.getTime() <= backfill.to.getTime() ? following : undefined
}

/** Move this process's copy of a backfill's cursor to `next`; none left means finished. */
export function moveCursor (backfill: Backfill, next: Date | undefined): void {
  if (next === undefined) delete backfill.next
  else backfill.next = next
}
