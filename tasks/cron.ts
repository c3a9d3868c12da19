/**
 * A standard 5-field cron expression (minute hour day-of-month month day-of-week) compiled
 * to lookup tables, with next/previous search over wall times (see zone.ts). Time zones and
 * DST are not handled here: schedule.ts maps wall times to instants.
 *
 * Why our own and not croner: croner decides how a pattern meets DST by its own rule
 * (single-value minute and hour = fixed time), which disagrees with our rule, docs/ARCHITECTURE.md#dst-and-schedules (hours of an
 * "every N hours" schedule = elapsed time, anything else = wall clock); it also accepts
 * seconds, years, L, W, # and ?, which we reject, and it calls Intl several times per search,
 * about 30–50 µs per nextRun. Tests use croner as the oracle away from DST days.
 *
 * Semantics follow Vixie cron (cronie): names JAN–DEC and SUN–SAT, 0 and 7 are Sunday,
 * nicknames @hourly … @yearly. `a/n` is refused (crons disagree on it; write `a-max/n`).
 * When both day fields are restricted a day matches either; a day field starting with `*`
 * (even `*\/2`) counts as unrestricted, and then both must match.
 */
import { memoizeByKey } from './memo.js'
interface FieldSpec {
  readonly name: string
  readonly min: number
  readonly max: number
  readonly names?: readonly string[]
}

const FIELDS: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] },
  { name: 'day-of-week', min: 0, max: 7, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] }
]

const NICKNAMES: ReadonlyMap<string, string> = new Map([
  ['@yearly', '0 0 1 1 *'],
  ['@annually', '0 0 1 1 *'],
  ['@monthly', '0 0 1 * *'],
  ['@weekly', '0 0 * * 0'],
  ['@daily', '0 0 * * *'],
  ['@midnight', '0 0 * * *'],
  ['@hourly', '0 * * * *']
])

const ACCEPTED = 'accepted in each field: *, numbers, names such as MON or JAN, ranges a-b, lists a,b and steps */n, a-b/n'

/** Max days per month, with February 29 (the pattern check must allow leap days). */
const MAX_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/** How far next/previous search before deciding that a pattern never matches. */
const SEARCH_YEARS = 400

/** A parse error; schedule.ts prefixes it with the source and expression. */
export class CronSyntaxError extends Error {}

/**
 * A compiled cron pattern. `expression` is the normalised 5-field form. Patterns are
 * immutable and small (bit masks and one table), and `cronPattern()` shares one instance per
 * expression, so ten thousand tasks on a few schedules cost a few patterns.
 */
export class CronPattern {
  readonly expression: string
  /**
   * True when the hour field allows exactly the hours of an "every N hours" schedule (every
   * hour whose hour % N == 0, N 1–23): the pattern follows elapsed time (docs/ARCHITECTURE.md#dst-and-schedules). Decided by
   * the set of hours, not the text, so `0-23`, `00-23` and `0,1-23` all behave like `*`.
   */
  readonly everyHour: boolean
  /** Bit d set = day-of-month d allowed (1–31); months bit 1–12; weekdays bit 0–6. */
  private readonly dayMask: number
  private readonly monthMask: number
  private readonly weekdayMask: number
  /** Vixie's rule: both day fields must match when either starts with `*`; else either may. */
  private readonly daysAnd: boolean
  private readonly allDays: boolean
  /**
   * Search tables in one array: next allowed minute >= i (61 entries, the last a -1
   * sentinel), previous minute <= i (60), next hour (25), previous hour (24); -1 = none.
   */
  private readonly tables: Int8Array

  constructor (source: string) {
    const trimmed = source.trim()
    const nickname = trimmed.startsWith('@') ? NICKNAMES.get(trimmed.toLowerCase()) : undefined
    if (trimmed.startsWith('@') && nickname === undefined) {
      throw new CronSyntaxError(`unknown nickname "${trimmed}" (accepted: ${[...NICKNAMES.keys()].join(', ')})`)
    }
    const parts = (nickname ?? trimmed).split(/\s+/)
    if (parts.length !== 5) {
      throw new CronSyntaxError(`expected 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`)
    }
    this.expression = parts.join(' ')
    const [minutes, hours, days, months, weekdays] = parts.map((part, i) => parseField(part, FIELDS[i]))
    weekdays[0] = weekdays[0] || weekdays[7]
    this.dayMask = toMask(days)
    this.monthMask = toMask(months)
    this.weekdayMask = toMask(weekdays.slice(0, 7))
    this.everyHour = isEveryNHours(hours)
    this.daysAnd = parts[2].startsWith('*') || parts[4].startsWith('*')
    this.allDays = days.slice(1).every(Boolean) && weekdays.slice(0, 7).every(Boolean)
    this.tables = Int8Array.from([
      ...nextTable(minutes, 60), ...prevTable(minutes, 60), ...nextTable(hours, 24), ...prevTable(hours, 24)
    ])
    this.assertCanMatch()
  }

  private nextMinute (minute: number): number { return this.tables[NEXT_MINUTE + minute] }
  private prevMinute (minute: number): number { return this.tables[PREV_MINUTE + minute] }
  private nextHour (hour: number): number { return this.tables[NEXT_HOUR + hour] }
  private prevHour (hour: number): number { return this.tables[PREV_HOUR + hour] }
  private monthAllowed (month: number): boolean { return ((this.monthMask >>> month) & 1) === 1 }
  private dayAllowed (day: number): boolean { return ((this.dayMask >>> day) & 1) === 1 }

  /** True when the wall time's minute matches. */
  matches (wall: number): boolean {
    const date = new Date(wall)
    return this.monthAllowed(date.getUTCMonth() + 1) &&
      this.nextHour(date.getUTCHours()) === date.getUTCHours() &&
      this.nextMinute(date.getUTCMinutes()) === date.getUTCMinutes() &&
      this.dayMatches(date.getUTCDate(), date.getUTCDay())
  }

  /** The first matching wall minute at or after `wall` (a whole minute), or undefined. */
  nextAtOrAfter (wall: number): number | undefined {
    const date = new Date(wall)
    let year = date.getUTCFullYear(); let month = date.getUTCMonth(); let day = date.getUTCDate()
    let hour = date.getUTCHours(); let minute = date.getUTCMinutes()
    const lastYear = year + SEARCH_YEARS
    for (;;) {
      if (month > 11) {
        month = 0
        if (++year > lastYear) return undefined
      }
      const foundDay = this.monthAllowed(month + 1) ? this.nextDay(year, month, day) : -1
      if (foundDay < 0) { month++; day = 1; hour = 0; minute = 0; continue }
      if (foundDay !== day) { day = foundDay; hour = 0; minute = 0 }
      const foundHour = this.nextHour(hour)
      if (foundHour < 0) { day++; hour = 0; minute = 0; continue }
      if (foundHour !== hour) { hour = foundHour; minute = 0 }
      const foundMinute = this.nextMinute(minute)
      if (foundMinute < 0) { hour++; minute = 0; continue }
      return Date.UTC(year, month, day, hour, foundMinute)
    }
  }

  /** The last matching wall minute at or before `wall` (a whole minute), or undefined. */
  prevAtOrBefore (wall: number): number | undefined {
    const date = new Date(wall)
    let year = date.getUTCFullYear(); let month = date.getUTCMonth(); let day = date.getUTCDate()
    let hour = date.getUTCHours(); let minute = date.getUTCMinutes()
    const firstYear = year - SEARCH_YEARS
    for (;;) {
      if (month < 0) {
        month = 11
        if (--year < firstYear) return undefined
      }
      const foundDay = this.monthAllowed(month + 1) ? this.prevDay(year, month, day) : -1
      if (foundDay < 0) { month--; day = 31; hour = 23; minute = 59; continue }
      if (foundDay !== day) { day = foundDay; hour = 23; minute = 59 }
      const foundHour = hour < 0 ? -1 : this.prevHour(hour)
      if (foundHour < 0) { day--; hour = 23; minute = 59; continue }
      if (foundHour !== hour) { hour = foundHour; minute = 59 }
      const foundMinute = minute < 0 ? -1 : this.prevMinute(minute)
      if (foundMinute < 0) { hour--; minute = 59; continue }
      return Date.UTC(year, month, day, hour, foundMinute)
    }
  }

  /** The first matching day >= `from` in the month (0-based), or -1. */
  private nextDay (year: number, month: number, from: number): number {
    const last = daysInMonth(year, month)
    if (this.allDays) return from <= last ? from : -1
    let weekday = new Date(Date.UTC(year, month, from)).getUTCDay()
    for (let day = from; day <= last; day++, weekday = (weekday + 1) % 7) {
      if (this.dayMatches(day, weekday)) return day
    }
    return -1
  }

  /** The last matching day <= `from` in the month (0-based), or -1. */
  private prevDay (year: number, month: number, from: number): number {
    const start = Math.min(from, daysInMonth(year, month))
    if (this.allDays) return start >= 1 ? start : -1
    let weekday = new Date(Date.UTC(year, month, start)).getUTCDay()
    for (let day = start; day >= 1; day--, weekday = (weekday + 6) % 7) {
      if (this.dayMatches(day, weekday)) return day
    }
    return -1
  }

  private dayMatches (day: number, weekday: number): boolean {
    const weekdayAllowed = ((this.weekdayMask >>> weekday) & 1) === 1
    return this.daysAnd
      ? this.dayAllowed(day) && weekdayAllowed
      : this.dayAllowed(day) || weekdayAllowed
  }

  /** Rejects patterns such as `0 0 30 2 *` that no calendar day can match. */
  private assertCanMatch (): void {
    if (!this.daysAnd) return // a weekday matches in every month
    for (let month = 1; month <= 12; month++) {
      if (!this.monthAllowed(month)) continue
      for (let day = 1; day <= MAX_DAYS[month - 1]; day++) if (this.dayAllowed(day)) return
    }
    throw new CronSyntaxError('never matches: no selected month has the selected day of the month')
  }
}

const NEXT_MINUTE = 0
const PREV_MINUTE = 61
const NEXT_HOUR = 121
const PREV_HOUR = 146

/** The compiled pattern of `source`, shared by every schedule that uses the same expression. */
export const cronPattern = memoizeByKey((source) => new CronPattern(source))

/** A bit mask of the allowed values (bit i = value i); fields never exceed 31. */
function toMask (allowed: readonly boolean[]): number {
  let mask = 0
  allowed.forEach((on, i) => { if (on) mask |= 1 << i })
  return mask
}

/**
 * True when `hours` is the set `*\/N` gives for some N from 1 to 23 (`N hours` in docs/ARCHITECTURE.md#dst-and-schedules).
 * `*\/24` and `*\/N` above 23 allow hour 0 only: a fixed hour, like `0`.
 */
function isEveryNHours (hours: readonly boolean[]): boolean {
  for (let n = 1; n <= 23; n++) {
    if (hours.every((allowed, hour) => allowed === (hour % n === 0))) return true
  }
  return false
}

/** Days in a month (0-based), by the proleptic Gregorian calendar. */
export function daysInMonth (year: number, month: number): number {
  return new Date(Date.UTC(year, month + 1, 0)).getUTCDate()
}

/** Parses one field into an array indexed by value (true = allowed). */
function parseField (text: string, spec: FieldSpec): boolean[] {
  const allowed = new Array<boolean>(spec.max + 1).fill(false)
  for (const element of text.split(',')) {
    const { from, to, step } = parseElement(element, spec)
    for (let value = from; value <= to; value += step) allowed[value] = true
  }
  return allowed
}

/** One list element: `*`, `a`, `a-b`, each optionally `/n`. */
function parseElement (element: string, spec: FieldSpec): { from: number, to: number, step: number } {
  const match = /^(\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:\/([0-9]+))?$/i.exec(element)
  if (match === null) throw new CronSyntaxError(`${spec.name} "${element}" is not supported (${ACCEPTED})`)
  const [, range, stepText] = match
  const step = stepText === undefined ? 1 : Number(stepText)
  const size = spec.max - spec.min + 1
  if (step < 1 || step > size) {
    throw new CronSyntaxError(`${spec.name} step "/${stepText ?? ''}" must be a whole number from 1 to ${size}`)
  }
  if (range === '*') return { from: spec.min, to: spec.max, step }
  const [fromText, toText] = range.split('-')
  const from = parseValue(fromText, spec)
  if (toText === undefined && stepText !== undefined) {
    throw new CronSyntaxError(`${spec.name} "${element}": a step needs * or a range (write ${fromText}-${spec.max}/${stepText} or */${stepText})`)
  }
  const to = toText === undefined ? from : parseValue(toText, spec)
  if (from > to) throw new CronSyntaxError(`${spec.name} range "${range}" runs backwards (write the smaller value first)`)
  return { from, to, step }
}

function parseValue (text: string, spec: FieldSpec): number {
  const nameIndex = spec.names?.indexOf(text.toUpperCase()) ?? -1
  if (nameIndex >= 0) return nameIndex + spec.min
  if (!/^[0-9]+$/.test(text)) throw new CronSyntaxError(`${spec.name} "${text}" is not supported (${ACCEPTED})`)
  const value = Number(text)
  if (value < spec.min || value > spec.max) {
    throw new CronSyntaxError(`${spec.name} ${value} is out of range ${spec.min}–${spec.max}`)
  }
  return value
}

function nextTable (allowed: readonly boolean[], size: number): Int8Array {
  const table = new Int8Array(size + 1).fill(-1)  // the last entry is the -1 sentinel
  for (let i = size - 1; i >= 0; i--) table[i] = allowed[i] ? i : table[i + 1]
  return table
}

function prevTable (allowed: readonly boolean[], size: number): Int8Array {
  const table = new Int8Array(size).fill(-1)
  for (let i = 0; i < size; i++) table[i] = allowed[i] ? i : (i > 0 ? table[i - 1] : -1)
  return table
}
