/**
 * Properties of compiled schedules over random attribute schedules, random cron expressions,
 * zones (two with 30- and 45-minute quirks) and instants, DST days included; and agreement
 * with croner away from DST days (croner's DST rules differ from ours, docs/ARCHITECTURE.md#dst-and-schedules, on purpose).
 */
import t from 'tap'
import fc from 'fast-check'
import { Cron } from 'croner'
import { compileSchedule } from '../../tasks/schedule.js'
import type { Schedule, ScheduleDefinition } from '../../tasks/types.js'
import { DAY, MINUTE } from '../../core/time.js'
import { zoneFor } from '../../tasks/zone.js'

const ZONES = ['UTC', 'America/New_York', 'Europe/Berlin', 'Australia/Lord_Howe', 'Asia/Kathmandu'] as const
const zone = fc.constantFrom(...ZONES)
/** Instants with random seconds and milliseconds, 2000–2040. */
const instant = fc.integer({ min: Date.parse('2000-01-01T00:00:00Z'), max: Date.parse('2040-01-01T00:00:00Z') })

/**
 * A zone and an instant; half of the instants lie within 36 hours of one of the zone's clock
 * changes, where the DST rules apply (UTC and Kathmandu have none: plain instants).
 */
const zoneAndInstant = fc.tuple(zone, instant, fc.boolean(), fc.integer({ min: -36 * 60 * MINUTE, max: 36 * 60 * MINUTE }))
  .map(([timezone, time, nearChange, delta]) => {
    const change = nearChange ? zoneFor(timezone).firstTransitionIn(time, time + 400 * DAY) : undefined
    return [timezone, change === undefined ? time : change.at + delta] as const
  })

const hh = fc.integer({ min: 0, max: 23 })
const runAt = fc.option(fc.tuple(hh, fc.integer({ min: 0, max: 59 })).map(([h, m]) => `${h}:${String(m).padStart(2, '0')}`), { nil: undefined })
const attributes: fc.Arbitrary<ScheduleDefinition> = fc.oneof(
  fc.integer({ min: 1, max: 59 }).map((n) => ({ runEvery: `${n} minutes` })),
  fc.integer({ min: 1, max: 23 }).map((n) => ({ runEvery: `${n} hours` })),
  fc.tuple(fc.integer({ min: 1, max: 31 }), runAt).map(([n, at]) => ({ runEvery: `${n} days`, runAt: at })),
  fc.tuple(fc.integer({ min: 1, max: 12 }), runAt).map(([n, at]) => ({ runEvery: `${n} months`, runAt: at })),
  runAt.filter((at) => at !== undefined).map((at) => ({ runAt: at })),
  fc.constant({ runEveryHour: true }),
  fc.constant({ runEveryMinute: true }),
  fc.uniqueArray(hh, { minLength: 2, maxLength: 2 }).map(([a, b]) => ({ twiceDaily: [a, b] as const }))
) as fc.Arbitrary<ScheduleDefinition>

/** One cron field over min..max: `*`, a step, a value, a range, a stepped range or a list. */
function cronField (min: number, max: number, maxStep: number): fc.Arbitrary<string> {
  const value = fc.integer({ min, max })
  const range = fc.tuple(value, value).map(([a, b]) => [Math.min(a, b), Math.max(a, b)])
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant('*') },
    { weight: 2, arbitrary: fc.integer({ min: 1, max: maxStep }).map((n) => `*/${n}`) },
    { weight: 2, arbitrary: value.map(String) },
    { weight: 2, arbitrary: range.map(([a, b]) => `${a}-${b}`) },
    { weight: 1, arbitrary: fc.tuple(range, fc.integer({ min: 1, max: maxStep })).map(([[a, b], n]) => `${a}-${b}/${n}`) },
    { weight: 2, arbitrary: fc.uniqueArray(value, { minLength: 2, maxLength: 4 }).map((list) => list.join(',')) }
  )
}
const cronExpression = fc.tuple(
  cronField(0, 59, 30), cronField(0, 23, 12), cronField(1, 31, 15), cronField(1, 12, 6), cronField(0, 7, 7)
).map((fields) => fields.join(' '))

/** A schedule that compiles (random day/month pairs such as `30 2` never match and are refused). */
function compiled (def: ScheduleDefinition, timezone: string): Schedule {
  try {
    return compileSchedule(def, { timezone, warn: () => {} })
  } catch (error) {
    fc.pre(!/never matches/.test((error as Error).message))
    throw error
  }
}

const definition = fc.oneof(attributes, cronExpression.map((cron) => ({ cron })))

/** No occurrence strictly between `from` and `to`: every minute over a day or two, sampled beyond. */
function assertNoneBetween (schedule: Schedule, from: number, to: number): void {
  const first = Math.floor(from / MINUTE) * MINUTE + MINUTE
  const scanned = Math.min(to, first + 2 * DAY)
  for (let minute = first; minute < scanned; minute += MINUTE) {
    if (schedule.matches(new Date(minute))) throw new Error(`occurrence at ${new Date(minute).toISOString()} was skipped`)
  }
  for (let i = 0; scanned < to && i < 200; i++) { // eslint-disable-line no-unmodified-loop-condition -- scanned < to guards the whole sample
    const minute = scanned + Math.floor(((to - scanned) / MINUTE) * ((i * 0.618034) % 1)) * MINUTE
    if (minute < to && schedule.matches(new Date(minute))) throw new Error(`occurrence at ${new Date(minute).toISOString()} was skipped`)
  }
}

t.test('next(t) is the first occurrence strictly after t', async (t) => {
  fc.assert(fc.property(definition, zoneAndInstant, (def, [timezone, time]) => {
    const schedule = compiled(def, timezone)
    const next = schedule.next(new Date(time))
    if (next === undefined) throw new Error('a schedule that matches must have a next occurrence')
    if (!(next.getTime() > time)) throw new Error('next(t) must be after t')
    if (next.getTime() % MINUTE !== 0) throw new Error('occurrences are whole minutes')
    if (!schedule.matches(next)) throw new Error('matches(next(t))')
    if (schedule.previous(next)?.getTime() !== next.getTime()) throw new Error('previous(next(t)) must be next(t)')
    assertNoneBetween(schedule, time, next.getTime())
  }), { numRuns: 400 })
  t.pass('held')
})

t.test('previous(t) is the latest occurrence at or before t', async (t) => {
  fc.assert(fc.property(definition, zoneAndInstant, (def, [timezone, time]) => {
    const schedule = compiled(def, timezone)
    const previous = schedule.previous(new Date(time))
    if (previous === undefined) throw new Error('a schedule that matches must have a previous occurrence')
    if (!(previous.getTime() <= time)) throw new Error('previous(t) must be at or before t')
    if (!schedule.matches(previous)) throw new Error('matches(previous(t))')
    if (schedule.next(new Date(previous.getTime() - 1))?.getTime() !== previous.getTime()) throw new Error('next(previous(t) - 1 ms) must be previous(t)')
    const after = schedule.next(previous)
    if (after !== undefined && after.getTime() <= time) throw new Error(`an occurrence at ${after.toISOString()} lies between previous(t) and t`)
  }), { numRuns: 600 })
  t.pass('held')
})

t.test('occurrences follow each other: a walk of next() is increasing and previous() walks it back', async (t) => {
  fc.assert(fc.property(definition, zoneAndInstant, (def, [timezone, time]) => {
    const schedule = compiled(def, timezone)
    const forward: number[] = []
    let cursor = new Date(time)
    for (let i = 0; i < 20; i++) {
      const next = schedule.next(cursor)
      if (next === undefined) break
      forward.push(next.getTime())
      cursor = next
    }
    const backward: number[] = []
    let back = schedule.previous(new Date(forward[forward.length - 1]))
    while (back !== undefined && back.getTime() > time) {
      backward.unshift(back.getTime())
      back = schedule.previous(new Date(back.getTime() - 1))
    }
    if (forward.join() !== backward.join()) throw new Error(`next walk ${forward.length} ≠ previous walk ${backward.length}`)
  }), { numRuns: 300 })
  t.pass('held')
})

/** The expression croner reads as we do: Vixie's "both day fields" rule is croner's `+` on day-of-week. */
function forCroner (expression: string): string {
  const fields = expression.split(' ')
  if (fields[2].startsWith('*') || fields[4].startsWith('*')) fields[4] = `+${fields[4]}`
  return fields.join(' ')
}

function nearClockChange (timezone: string, time: number): boolean {
  return zoneFor(timezone).firstTransitionIn(time - 2 * DAY, time + 2 * DAY) !== undefined
}

t.test('away from DST days, cron agrees with croner', async (t) => {
  let compared = 0
  fc.assert(fc.property(cronExpression, zone, instant, (cron, timezone, time) => {
    const ours = compiled({ cron }, timezone).next(new Date(time))?.getTime()
    const theirs = new Cron(forCroner(cron), { timezone, paused: true }).nextRun(new Date(time))?.getTime()
    if ([time, ours, theirs].some((x) => x !== undefined && nearClockChange(timezone, x))) return
    compared++
    if (ours !== theirs) {
      throw new Error(`${cron} in ${timezone} after ${new Date(time).toISOString()}: ours ${String(ours && new Date(ours).toISOString())}, croner ${String(theirs && new Date(theirs).toISOString())}`)
    }
  }), { numRuns: 600 })
  t.ok(compared > 300, `compared ${compared} away from DST days`)
})

t.test('away from DST days, attribute schedules agree with croner on their cron equivalent', async (t) => {
  fc.assert(fc.property(attributes, zone, instant, (def, timezone, time) => {
    const schedule = compiled(def, timezone)
    const ours = schedule.next(new Date(time))?.getTime()
    const theirs = new Cron(forCroner(schedule.cron ?? ''), { timezone, paused: true }).nextRun(new Date(time))?.getTime()
    if ([time, ours, theirs].some((x) => x !== undefined && nearClockChange(timezone, x))) return
    if (ours !== theirs) throw new Error(`${schedule.describe()}: ours ${String(ours)}, croner ${String(theirs)}`)
  }), { numRuns: 300 })
  t.pass('held')
})
