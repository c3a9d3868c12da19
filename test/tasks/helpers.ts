/** Small helpers shared by the task-model tests. */
import type { Test } from 'tap'
import { compileSchedule } from '../../tasks/schedule.js'
import type { Schedule, ScheduleDefinition } from '../../tasks/types.js'

/** The next `count` occurrences strictly after `from`, as ISO strings. */
export function nextOccurrences (schedule: Schedule, from: string | Date, count: number): string[] {
  const found: string[] = []
  let cursor: Date | undefined = new Date(from)
  while (found.length < count) {
    cursor = schedule.next(cursor)
    if (cursor === undefined) break
    found.push(cursor.toISOString())
  }
  return found
}

/** Every occurrence in [from, to), found by asking `matches` minute by minute (the slow, obvious way). */
export function scanOccurrences (schedule: Schedule, from: string | Date, to: string | Date): string[] {
  const found: string[] = []
  for (let t = new Date(from).getTime(); t < new Date(to).getTime(); t += 60_000) {
    if (schedule.matches(new Date(t))) found.push(new Date(t).toISOString())
  }
  return found
}

/** compileSchedule with a zone, collecting warnings instead of emitting them. */
export function compile (def: ScheduleDefinition, timezone = 'UTC'): { schedule: Schedule, warnings: string[] } {
  const warnings: string[] = []
  const schedule = compileSchedule(def, { timezone, warn: (message) => warnings.push(message) })
  return { schedule, warnings }
}

/** ISO strings of local instants: `iso('2026-05-03T17:00', '+02:00')`. */
export function iso (local: string, offset: string): string {
  return new Date(`${local}:00${offset}`).toISOString()
}

/** Occurrences in [from, to) by next(), checked against a minute-by-minute scan with matches(). */
export function occurrencesBetween (t: Test, def: ScheduleDefinition, zone: string, from: string, to: string): string[] {
  const { schedule } = compile(def, zone)
  const found: string[] = []
  let cursor = new Date(new Date(from).getTime() - 1)
  for (;;) {
    const next = schedule.next(cursor)
    if (next === undefined || next.getTime() >= new Date(to).getTime()) break
    t.equal(schedule.previous(next)?.toISOString(), next.toISOString(), 'previous(next(t)) is next(t)')
    found.push(next.toISOString())
    cursor = next
  }
  t.same(scanOccurrences(schedule, from, to), found, 'matches() agrees with next()')
  return found
}
