/**
 * Schedule attributes → a compiled `Schedule` (docs/ARCHITECTURE.md#dst-and-schedules).
 *
 * Every attribute schedule is translated to its exact cron equivalent (the masonite modulus
 * rules all have one: `7 minutes` is `*\/7 * * * *`, `3 days` at 17:00 is `0 17 3-31/3 * *`),
 * so one engine serves attributes and cron alike and the listing can show the cron form.
 *
 * Daylight saving: minute and hour schedules follow elapsed time — an instant is an
 * occurrence when its local time matches, so a repeated hour runs twice and a skipped hour
 * owes nothing. They are `runEvery: 'N minutes' | 'N hours'`, `runEveryHour`,
 * `runEveryMinute`, and cron whose hour field allows all 24 hours (however it is spelled).
 * Any other schedule (days, months, `runAt`, `twiceDaily`, cron with a smaller set of hours,
 * `*\/N` included) follows the wall clock — each matching local time runs once, at its first
 * pass, or at the end of the gap when it does not exist (docs/ARCHITECTURE.md#dst-and-schedules).
 */
import { cronPattern, CronSyntaxError, type CronPattern } from './cron.js'
import { describeValue } from './duration.js'
import { InvalidScheduleError } from '../core/errors.js'
import { suggest } from '../core/suggest.js'
import type { CompileScheduleOptions, Schedule, ScheduleDefinition } from './types.js'
import { DAY, HOUR, MINUTE, floorToMinute } from '../core/time.js'
import { canonicalZoneName, localZoneName, zoneFor, type Zone } from './zone.js'

/** The schedule attributes, in the order error messages list them. */
export const SCHEDULE_KEYS = ['runEvery', 'runAt', 'runEveryHour', 'runEveryMinute', 'twiceDaily', 'cron'] as const

/** The per-task options beside the schedule (docs/ARCHITECTURE.md#tasks). */
export const OPTION_KEYS = ['name', 'timezone', 'timeout', 'catchUp', 'overlap', 'allowOverlap', 'enabled', 'retries', 'heartbeat', 'pauseOnFailure', 'payload'] as const
/** The methods a task may have beside `handle` (docs/ARCHITECTURE.md#notifications-and-the-dashboard). */
export const HOOK_KEYS = ['onSuccess', 'onFailure'] as const
/** Every property of the object form of a task. */
export const TASK_KEYS: readonly string[] = [...SCHEDULE_KEYS, ...OPTION_KEYS, 'handle', ...HOOK_KEYS]

const UNITS = 'minute(s), hour(s), day(s), month(s)'
const FAMILIES = 'runEvery (with an optional runAt), runAt, runEveryHour, runEveryMinute, twiceDaily, cron'

type Unit = 'minute' | 'hour' | 'day' | 'month'
/** Largest N per unit (docs/ARCHITECTURE.md#dst-and-schedules). */
const MAX_N: Readonly<Record<Unit, number>> = { minute: 59, hour: 23, day: 31, month: 12 }
const UNIT_NAMES = new Map<string, Unit>([
  ['minute', 'minute'], ['minutes', 'minute'], ['hour', 'hour'], ['hours', 'hour'],
  ['day', 'day'], ['days', 'day'], ['month', 'month'], ['months', 'month']
])

/** A schedule before it is bound to a zone: its cron equivalent and its English description. */
interface Plan {
  pattern: CronPattern
  description: string
  /** Follows elapsed time whatever the hour field covers (`runEvery: 'N hours'`); else decided by the pattern. */
  elapsed?: boolean
}

interface TimeOfDay {
  hour: number
  minute: number
}

/**
 * Compiles schedule attributes read in `options.timezone` (default: the process's zone).
 * `def` may be a whole task object; only its schedule attributes are read. Throws
 * `InvalidScheduleError` naming `options.source`, the attribute and what is accepted.
 *
 * @example
 * ```ts
 * import { compileSchedule } from 'fastify-scheduler'
 *
 * const schedule = compileSchedule({ runEvery: '3 days', runAt: '17:00' }, { timezone: 'Europe/Berlin' })
 * schedule.describe()                                // 'every 3 days at 17:00 (Europe/Berlin)'
 * schedule.next(new Date('2026-05-01T00:00:00Z'))    // 2026-05-03T15:00:00.000Z
 * schedule.cron                                      // '0 17 3-31/3 * *'
 * ```
 */
export function compileSchedule (def: ScheduleDefinition, options: CompileScheduleOptions = {}): Schedule {
  const fail = (message: string): Error =>
    new InvalidScheduleError(options.source === undefined ? message : `${options.source}: ${message}`)
  const timezone = resolveTimezone(options.timezone, fail)
  if (def === null || typeof def !== 'object') throw fail(`expected schedule attributes (an object), got ${describeValue(def)}`)
  rejectUnknownAttributes(def, fail)
  const warn = (message: string): void => {
    const text = options.source === undefined ? message : `${options.source}: ${message}`
    if (options.warn === undefined) process.emitWarning(text, 'FastifySchedulerWarning')
    else options.warn(text)
  }
  const plan = planSchedule(def, fail, warn)
  if (plan === undefined) return new ManualSchedule(timezone)
  return new PatternSchedule(plan.pattern, zoneFor(timezone), plan.description, timezone, plan.elapsed ?? plan.pattern.everyHour)
}

function resolveTimezone (timezone: unknown, fail: (message: string) => Error): string {
  if (timezone === undefined) return localZoneName()
  const accepted = 'expected an IANA time zone name such as "Europe/Berlin" or "UTC"'
  if (typeof timezone !== 'string' || timezone.trim() === '') throw fail(`timezone: ${accepted}, got ${describeValue(timezone)}`)
  const name = canonicalZoneName(timezone.trim())
  if (name === undefined) throw fail(`timezone "${timezone}": unknown time zone (${accepted})`)
  return name
}

/**
 * A typo must not silently mean "manual only", so unknown keys fail. The other task options
 * may come along (a whole task object is accepted) and are not read here: the time zone is
 * `options.timezone`.
 */
function rejectUnknownAttributes (def: object, fail: (message: string) => Error): void {
  for (const key of Object.keys(def)) {
    if (TASK_KEYS.includes(key)) continue
    const guess = suggest(key, SCHEDULE_KEYS)
    throw fail(`unknown schedule attribute "${key}"${guess === undefined ? '' : ` — did you mean "${guess}"?`} (accepted: ${SCHEDULE_KEYS.join(', ')})`)
  }
}

/** Checks the combination of attributes and returns the plan, or undefined for manual only. */
function planSchedule (def: ScheduleDefinition, fail: (message: string) => Error, warn: (message: string) => void): Plan | undefined {
  const present = SCHEDULE_KEYS.filter((key) => isPresent(key, def[key], fail))
  // runAt belongs to runEvery's family; with anything else it is a second schedule.
  const families = present.includes('runEvery') ? present.filter((key) => key !== 'runAt') : present
  if (families.length > 1) {
    throw fail(`two schedules on one task: ${families.join(' and ')} (use one of: ${FAMILIES})`)
  }
  const at = def.runAt === undefined ? undefined : parseRunAt(def.runAt, fail)
  switch (families[0]) {
    case undefined: return undefined
    case 'cron': return planCron(def.cron, fail)
    case 'runEveryMinute': return everyMinutes(1)
    case 'runEveryHour': return everyHours(1)
    case 'twiceDaily': return twiceDaily(def.twiceDaily, fail)
    case 'runAt': return everyDays(1, at)
    case 'runEvery': return planRunEvery(def.runEvery, at, fail, warn)
  }
}

/** Absent is `undefined`, and `false` for the two flags; any other value must then parse. */
function isPresent (key: typeof SCHEDULE_KEYS[number], value: unknown, fail: (message: string) => Error): boolean {
  if (key === 'runEveryHour' || key === 'runEveryMinute') {
    if (value === undefined || value === false) return false
    if (value === true) return true
    throw fail(`${key}: expected true or false, got ${describeValue(value)}`)
  }
  return value !== undefined
}

function planRunEvery (value: unknown, at: TimeOfDay | undefined, fail: (message: string) => Error, warn: (message: string) => void): Plan {
  const { n, unit } = parseRunEvery(value, fail)
  if (unit === 'minute' || unit === 'hour') {
    if (at !== undefined) {
      warn(`runAt "${formatTime(at)}" is ignored: runEvery "${String(value)}" runs at fixed minutes of every ${unit === 'minute' ? 'hour' : 'day'}, not at a time of day`)
    }
    return unit === 'minute' ? everyMinutes(n) : everyHours(n)
  }
  return unit === 'day' ? everyDays(n, at) : everyMonths(n, at)
}

/** `'N unit'`: N a whole number in the unit's range; any case, spaces free. */
function parseRunEvery (value: unknown, fail: (message: string) => Error): { n: number, unit: Unit } {
  const accepted = `expected 'N unit' such as '3 days' (units: ${UNITS})`
  if (typeof value !== 'string') throw fail(`runEvery: ${accepted}, got ${describeValue(value)}`)
  const match = /^(\S*?)\s*([a-z]+)$/i.exec(value.trim())
  if (match === null || match[1] === '') throw fail(`runEvery "${value}": ${accepted}`)
  const unit = UNIT_NAMES.get(match[2].toLowerCase())
  if (unit === undefined) throw fail(`runEvery "${value}": unknown unit "${match[2]}" (accepted: ${UNITS})`)
  const n = /^[0-9]+$/.test(match[1]) ? Number(match[1]) : NaN
  if (!(n >= 1 && n <= MAX_N[unit])) {
    throw fail(`runEvery "${value}": N must be a whole number from 1 to ${MAX_N[unit]} for ${unit}s`)
  }
  return { n, unit }
}

/** `'H:MM'` or `'HH:MM'`, 24-hour. */
function parseRunAt (value: unknown, fail: (message: string) => Error): TimeOfDay {
  const accepted = "expected a 24-hour time 'HH:MM' from 00:00 to 23:59, such as '17:00' or '5:30'"
  if (typeof value !== 'string') throw fail(`runAt: ${accepted}, got ${describeValue(value)}`)
  const match = /^([0-9]{1,2}):([0-9]{2})$/.exec(value.trim())
  const hour = match === null ? NaN : Number(match[1])
  const minute = match === null ? NaN : Number(match[2])
  if (!(hour <= 23 && minute <= 59)) throw fail(`runAt "${value}": ${accepted}`)
  return { hour, minute }
}

function planCron (value: unknown, fail: (message: string) => Error): Plan {
  if (typeof value !== 'string' || value.trim() === '') {
    throw fail(`cron: expected a 5-field cron expression such as '*/5 * * * *', got ${describeValue(value)}`)
  }
  try {
    const pattern = cronPattern(value)
    return { pattern, description: `cron ${pattern.expression}` }
  } catch (error) {
    if (error instanceof CronSyntaxError) throw fail(`cron "${value}": ${error.message}`)
    throw error
  }
}

function twiceDaily (value: unknown, fail: (message: string) => Error): Plan {
  const hours = Array.isArray(value) ? value as unknown[] : []
  const valid = hours.length === 2 && hours.every((h) => Number.isInteger(h) && (h as number) >= 0 && (h as number) <= 23) && hours[0] !== hours[1]
  if (!valid) throw fail(`twiceDaily ${describeValue(value)}: expected two distinct whole hours from 0 to 23, such as [1, 13]`)
  const [first, second] = (hours as number[]).slice().sort((a, b) => a - b)
  return {
    pattern: cronPattern(`0 ${first},${second} * * *`),
    description: `twice daily at ${formatTime({ hour: first, minute: 0 })} and ${formatTime({ hour: second, minute: 0 })}`
  }
}

function everyMinutes (n: number): Plan {
  return n === 1
    ? { pattern: cronPattern('* * * * *'), description: 'every minute' }
    : { pattern: cronPattern(`*/${n} * * * *`), description: `every ${n} minutes` }
}

function everyHours (n: number): Plan {
  return n === 1
    ? { pattern: cronPattern('0 * * * *'), description: 'every hour' }
    : { pattern: cronPattern(`0 */${n} * * *`), description: `every ${n} hours`, elapsed: true }
}

function everyDays (n: number, at: TimeOfDay = MIDNIGHT): Plan {
  return {
    pattern: cronPattern(`${at.minute} ${at.hour} ${multiplesOf(n, 31)} * *`),
    description: `${n === 1 ? 'daily' : `every ${n} days`} at ${formatTime(at)}`
  }
}

function everyMonths (n: number, at: TimeOfDay = MIDNIGHT): Plan {
  return {
    pattern: cronPattern(`${at.minute} ${at.hour} 1 ${multiplesOf(n, 12)} *`),
    description: `${n === 1 ? 'monthly' : `every ${n} months`} on the 1st at ${formatTime(at)}`
  }
}

const MIDNIGHT: TimeOfDay = { hour: 0, minute: 0 }

/**
 * The cron field for "value % n == 0" over 1..max. Cron's `*\/n` starts at 1 in these fields
 * (1, 4, 7 …), so the modulus rule needs `n-max/n` (3, 6, 9 …).
 */
function multiplesOf (n: number, max: number): string {
  if (n === 1) return '*'
  return 2 * n > max ? String(n) : `${n}-${max}/${n}`
}

function formatTime ({ hour, minute }: TimeOfDay): string {
  return `${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}`
}

/** A task with no schedule attribute: runs only when forced. */
class ManualSchedule implements Schedule {
  readonly cron = undefined
  readonly manual = true
  constructor (readonly timezone: string) {}
  matches (date: Date): boolean { toTime(date); return false }
  next (after: Date): Date | undefined { toTime(after); return undefined }
  previous (atOrBefore: Date): Date | undefined { toTime(atOrBefore); return undefined }
  describe (): string { return 'manual only' }
}

/** A cron pattern read in a zone, by elapsed time or by the wall clock (see the file comment). */
class PatternSchedule implements Schedule {
  readonly manual = false
  readonly cron: string

  constructor (
    private readonly pattern: CronPattern,
    private readonly zone: Zone,
    private readonly description: string,
    readonly timezone: string,
    /** Elapsed time (true) or the wall clock (false). */
    private readonly elapsed: boolean
  ) {
    this.cron = pattern.expression
  }

  matches (date: Date): boolean {
    const minute = floorToMinute(toTime(date))
    if (this.elapsed) return this.pattern.matches(minute + this.zone.offsetAt(minute))
    return previousWallClock(this.pattern, this.zone, minute) === minute
  }

  next (after: Date): Date | undefined {
    const time = toTime(after)
    return toDate(this.elapsed
      ? nextElapsed(this.pattern, this.zone, time)
      : nextWallClock(this.pattern, this.zone, time))
  }

  previous (atOrBefore: Date): Date | undefined {
    const time = toTime(atOrBefore)
    return toDate(this.elapsed
      ? previousElapsed(this.pattern, this.zone, time)
      : previousWallClock(this.pattern, this.zone, time))
  }

  describe (): string {
    return `${this.description} (${this.timezone})`
  }
}

/** Bounds the loops below; each step crosses a transition or moves a candidate forward. */
const MAX_STEPS = 5000
/** Wider than any offset change (Pacific/Apia skipped a whole day in 2011). */
const OFFSET_WINDOW = DAY + 12 * HOUR

/**
 * Elapsed time: the first whole minute after `after` whose local time matches. Between two
 * transitions local time is UTC plus a constant, so one pattern search finds the candidate;
 * if a transition comes first, the search starts again from it.
 */
function nextElapsed (pattern: CronPattern, zone: Zone, after: number): number | undefined {
  let from = floorToMinute(after) + MINUTE
  for (let step = 0; step < MAX_STEPS; step++) {
    const offset = zone.offsetAt(from)
    const wall = pattern.nextAtOrAfter(from + offset)
    if (wall === undefined) return undefined
    const candidate = wall - offset
    const transition = zone.firstTransitionIn(from, candidate)
    if (transition === undefined) return candidate
    from = transition.at
  }
  return undefined
}

/** Elapsed time: the last whole minute at or before `atOrBefore` whose local time matches. */
function previousElapsed (pattern: CronPattern, zone: Zone, atOrBefore: number): number | undefined {
  let to = floorToMinute(atOrBefore)
  for (let step = 0; step < MAX_STEPS; step++) {
    const offset = zone.offsetAt(to)
    const wall = pattern.prevAtOrBefore(to + offset)
    if (wall === undefined) return undefined
    const candidate = wall - offset
    const transition = zone.lastTransitionIn(candidate, to)
    if (transition === undefined) return candidate
    to = transition.at - MINUTE
  }
  return undefined
}

/**
 * Wall clock: matching local times mapped to instants by `wallToUtc` (first pass, or the end
 * of a gap). That mapping never goes backwards, so the answer is the first matching local
 * time at or after the earliest one that could map after `after`.
 */
function nextWallClock (pattern: CronPattern, zone: Zone, after: number): number | undefined {
  const from = floorToMinute(after) + MINUTE
  // The offset before `from` counts too: if `from` is the end of a gap, the gap's times map to it.
  let wall = pattern.nextAtOrAfter(from + Math.min(zone.offsetAt(from - MINUTE), zone.offsetAt(from + OFFSET_WINDOW)))
  for (let step = 0; step < MAX_STEPS && wall !== undefined; step++) {
    const instant = zone.wallToUtc(wall)
    if (instant >= from) return instant
    wall = pattern.nextAtOrAfter(wall + MINUTE)
  }
  return undefined
}

/** Wall clock: the latest occurrence at or before `atOrBefore` (mirror of nextWallClock). */
function previousWallClock (pattern: CronPattern, zone: Zone, atOrBefore: number): number | undefined {
  const to = floorToMinute(atOrBefore)
  let wall = pattern.prevAtOrBefore(to + Math.max(zone.offsetAt(to), zone.offsetAt(to - OFFSET_WINDOW)))
  for (let step = 0; step < MAX_STEPS && wall !== undefined; step++) {
    const instant = zone.wallToUtc(wall)
    if (instant <= to) return instant
    wall = pattern.prevAtOrBefore(wall - MINUTE)
  }
  return undefined
}

function toTime (date: Date): number {
  const time = date instanceof Date ? date.getTime() : NaN
  if (Number.isNaN(time)) throw new TypeError(`expected a valid Date, got ${describeValue(date)}`)
  return time
}

function toDate (time: number | undefined): Date | undefined {
  return time === undefined ? undefined : new Date(time)
}
