/**
 * Durations in task options (`timeout`, `catchUp`): a number of milliseconds or a string
 * such as `'10 minutes'` or `'1.5 hours'`.
 */

const UNIT_MS: ReadonlyMap<string, number> = new Map([
  ['ms', 1], ['millisecond', 1], ['milliseconds', 1],
  ['second', 1000], ['seconds', 1000],
  ['minute', 60_000], ['minutes', 60_000],
  ['hour', 3_600_000], ['hours', 3_600_000],
  ['day', 86_400_000], ['days', 86_400_000]
])

const ACCEPTED = "a number of milliseconds (>= 0) or 'N unit' with unit ms, millisecond(s), second(s), minute(s), hour(s) or day(s), such as '10 minutes'"

/**
 * Reads a duration and returns milliseconds. Throws a TypeError naming `field` and what is
 * accepted for anything else (negative, NaN, Infinity, unknown units, missing unit).
 *
 * @example
 * ```ts
 * import { parseDuration } from 'fastify-scheduler'
 *
 * parseDuration('10 minutes', 'timeout')  // 600000
 * parseDuration(1500, 'timeout')          // 1500
 * parseDuration('10 minits', 'timeout')   // throws TypeError: timeout "10 minits": expected a number of milliseconds ...
 * ```
 */
export function parseDuration (value: unknown, field: string): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value
    throw new TypeError(`${field} ${String(value)}: expected ${ACCEPTED}`)
  }
  if (typeof value !== 'string') {
    throw new TypeError(`${field}: expected ${ACCEPTED}, got ${describeValue(value)}`)
  }
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]+)\s*$/i.exec(value)
  const unitMs = match === null ? undefined : UNIT_MS.get(match[2].toLowerCase())
  if (match === null || unitMs === undefined) {
    throw new TypeError(`${field} "${value}": expected ${ACCEPTED}`)
  }
  return Math.round(Number(match[1]) * unitMs)
}

/**
 * The longest delay a Node.js timer keeps (2^31 − 1 ms, about 24.8 days): a longer one fires
 * after 1 ms. Every option that becomes a timer is checked against it at boot.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1

/** `parseDuration` for a duration that becomes a timer: refuses anything over MAX_TIMER_MS. */
export function parseTimerDuration (value: unknown, field: string): number {
  const ms = parseDuration(value, field)
  if (ms > MAX_TIMER_MS) {
    throw new TypeError(`${field} ${describeValue(value)}: at most ${MAX_TIMER_MS} ms (about 24 days), the longest timer Node.js keeps`)
  }
  return ms
}

/** A short rendering of a wrong value for error messages. */
export function describeValue (value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'function') return 'a function'
  if (Array.isArray(value)) return `[${value.map(describeValue).join(', ')}]`
  if (value !== null && typeof value === 'object') return 'an object'
  return String(value)
}
