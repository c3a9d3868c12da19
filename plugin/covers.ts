/**
 * Which occurrences a catch-up run stands for (docs/RUN-OUTPUT.md#covers): when a late or
 * missed ping finds several occurrences owed, only the latest runs, and its record says
 * which ones it covers, so nothing is merged in silence.
 */
import type { RunCovers } from './stores/store.js'

/** Occurrences counted at most; beyond it `count` stops growing (a year of every-minute occurrences is not walked). */
export const MAX_COUNTED = 10_000

interface Stepper {
  next: (after: Date) => Date | undefined
}

/**
 * The occurrences owed up to `occurrence` (included): after `lastOccurrence` (excluded), not
 * before `firstSeen`. Undefined when `occurrence` is the only one (nothing was coalesced).
 */
export function coveredOccurrences (schedule: Stepper, occurrence: Date, firstSeen: Date, lastOccurrence: Date | undefined): RunCovers | undefined {
  const to = occurrence.getTime()
  // The first owed occurrence: the first after lastOccurrence, or the first at or after firstSeen.
  let first = lastOccurrence !== undefined && lastOccurrence.getTime() >= firstSeen.getTime()
    ? schedule.next(lastOccurrence)
    : schedule.next(new Date(firstSeen.getTime() - 1))
  if (first === undefined || first.getTime() >= to) return undefined
  const from = first
  let count = 1
  while (count < MAX_COUNTED) {
    const next = schedule.next(first)
    if (next === undefined || next.getTime() > to) break
    count++
    first = next
    if (next.getTime() === to) break
  }
  return count < 2 ? undefined : { from, to: occurrence, count }
}
