/** Time units and the minute floor every layer uses: schedules, ticks and retries are due by the whole minute. */

export const MINUTE = 60_000
export const HOUR = 60 * MINUTE
export const DAY = 24 * HOUR

/**
 * The whole minute at or before `ms` (ms since the epoch; before 1970 too).
 *
 * @example
 * ```ts
 * floorToMinute(Date.parse('2026-05-12T17:00:42.5Z')) // Date.parse('2026-05-12T17:00:00Z')
 * ```
 */
export function floorToMinute (ms: number): number {
  return Math.floor(ms / MINUTE) * MINUTE
}
