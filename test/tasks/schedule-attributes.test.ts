/**
 * The schedule rules (docs/ARCHITECTURE.md#dst-and-schedules) by example: the masonite attributes, their calendar modulus rules, describe() and
 * the cron equivalent, and every way a schedule attribute can be wrong.
 */
import t from 'tap'
import { compileSchedule } from '../../tasks/schedule.js'
import type { ScheduleDefinition } from '../../tasks/types.js'
import { compile, nextOccurrences } from './helpers.js'

/** Compiles input the types would reject, as a task file in plain JavaScript could hold it. */
const loose = (def: Record<string, unknown>): ScheduleDefinition => def as ScheduleDefinition

t.test('units: singular and plural, any case, extra spaces', async (t) => {
  const cases: Array<[string, string]> = [
    ['1 minute', '* * * * *'], ['1 minutes', '* * * * *'], ['5 minute', '*/5 * * * *'], ['5 MINUTES', '*/5 * * * *'],
    ['  5   Minutes  ', '*/5 * * * *'], ['5minutes', '*/5 * * * *'],
    ['1 hour', '0 * * * *'], ['2 hours', '0 */2 * * *'], ['2 HOUR', '0 */2 * * *'], [' 2\tHours ', '0 */2 * * *'],
    ['1 day', '0 0 * * *'], ['3 days', '0 0 3-31/3 * *'], ['3 DaYs', '0 0 3-31/3 * *'], ['3   day', '0 0 3-31/3 * *'],
    ['1 month', '0 0 1 * *'], ['3 months', '0 0 1 3-12/3 *'], ['3 MONTH', '0 0 1 3-12/3 *'], ['  12 months', '0 0 1 12 *']
  ]
  for (const [runEvery, cron] of cases) {
    t.equal(compile(loose({ runEvery })).schedule.cron, cron, `runEvery "${runEvery}" is ${cron}`)
  }
})

t.test('7 minutes runs :00, :07 … :56, then :00 of the next hour', async (t) => {
  const { schedule } = compile({ runEvery: '7 minutes' })
  t.same(nextOccurrences(schedule, '2026-05-12T10:00:00Z', 10).map((iso) => iso.slice(11, 16)),
    ['10:07', '10:14', '10:21', '10:28', '10:35', '10:42', '10:49', '10:56', '11:00', '11:07'])
  t.equal(schedule.describe(), 'every 7 minutes (UTC)')
  t.equal(schedule.cron, '*/7 * * * *')
})

t.test('N hours runs at minute 0 of the hours divisible by N', async (t) => {
  const { schedule } = compile({ runEvery: '5 hours' })
  t.same(nextOccurrences(schedule, '2026-05-12T00:00:00Z', 6).map((iso) => iso.slice(8, 16)),
    ['12T05:00', '12T10:00', '12T15:00', '12T20:00', '13T00:00', '13T05:00'])
  t.equal(schedule.describe(), 'every 5 hours (UTC)')
})

t.test('3 days runs May 3, 6 … 30, then June 3', async (t) => {
  const { schedule } = compile({ runEvery: '3 days' })
  const may = nextOccurrences(schedule, '2026-04-30T12:00:00Z', 11)
  t.same(may.map((iso) => iso.slice(5, 16)), [
    '05-03T00:00', '05-06T00:00', '05-09T00:00', '05-12T00:00', '05-15T00:00', '05-18T00:00',
    '05-21T00:00', '05-24T00:00', '05-27T00:00', '05-30T00:00', '06-03T00:00'
  ])
  t.equal(schedule.describe(), 'every 3 days at 00:00 (UTC)')
})

t.test('3 days at 17:00 in Europe/Berlin', async (t) => {
  const { schedule } = compile({ runEvery: '3 days', runAt: '17:00' }, 'Europe/Berlin')
  t.same(nextOccurrences(schedule, '2026-05-28T00:00:00Z', 2), ['2026-05-30T15:00:00.000Z', '2026-06-03T15:00:00.000Z'])
  t.equal(schedule.describe(), 'every 3 days at 17:00 (Europe/Berlin)')
  t.equal(schedule.cron, '0 17 3-31/3 * *', 'not */3, which would start on the 1st')
  t.equal(schedule.timezone, 'Europe/Berlin')
})

t.test('N days above 15 runs on day N only', async (t) => {
  const { schedule } = compile({ runEvery: '16 days' })
  t.same(nextOccurrences(schedule, '2026-05-01T00:00:00Z', 2), ['2026-05-16T00:00:00.000Z', '2026-06-16T00:00:00.000Z'])
  t.equal(schedule.cron, '0 0 16 * *')
  t.same(nextOccurrences(compile({ runEvery: '31 days' }).schedule, '2026-05-01T00:00:00Z', 2),
    ['2026-05-31T00:00:00.000Z', '2026-07-31T00:00:00.000Z'], '31 days: months with 31 days only')
})

t.test('12 months runs on December 1; 3 months in March, June, September, December', async (t) => {
  const yearly = compile({ runEvery: '12 months' }).schedule
  t.same(nextOccurrences(yearly, '2026-05-12T00:00:00Z', 2), ['2026-12-01T00:00:00.000Z', '2027-12-01T00:00:00.000Z'])
  t.equal(yearly.describe(), 'every 12 months on the 1st at 00:00 (UTC)')
  t.equal(yearly.cron, '0 0 1 12 *')
  const quarterly = compile({ runEvery: '3 months', runAt: '06:15' }).schedule
  t.same(nextOccurrences(quarterly, '2026-01-01T00:00:00Z', 5).map((iso) => iso.slice(0, 16)),
    ['2026-03-01T06:15', '2026-06-01T06:15', '2026-09-01T06:15', '2026-12-01T06:15', '2027-03-01T06:15'])
  t.equal(compile({ runEvery: '1 month' }).schedule.describe(), 'monthly on the 1st at 00:00 (UTC)')
})

t.test('runAt alone means daily at that time; 5:30 and 05:30 are the same', async (t) => {
  for (const runAt of ['5:30', '05:30'] as const) {
    const { schedule } = compile({ runAt })
    t.same(nextOccurrences(schedule, '2026-05-12T05:30:00Z', 2), ['2026-05-13T05:30:00.000Z', '2026-05-14T05:30:00.000Z'])
    t.equal(schedule.describe(), 'daily at 05:30 (UTC)')
    t.equal(schedule.cron, '30 5 * * *')
  }
  t.equal(compile({ runAt: '17:00' }).schedule.describe(), 'daily at 17:00 (UTC)')
  t.equal(compile({ runEvery: '1 day', runAt: '17:00' }).schedule.cron, '0 17 * * *', '1 day at 17:00 is daily')
})

t.test('runAt with minutes or hours is ignored, with a warning', async (t) => {
  for (const runEvery of ['5 minutes', '2 hours'] as const) {
    const { schedule, warnings } = compile({ runEvery, runAt: '17:00' })
    t.equal(schedule.cron, compile({ runEvery }).schedule.cron, `${runEvery} runs as without runAt`)
    t.equal(warnings.length, 1)
    t.match(warnings[0], new RegExp(`runAt "17:00" is ignored: runEvery "${runEvery}"`))
  }
  const warnings: string[] = []
  compileSchedule({ runEvery: '5 minutes', runAt: '17:00' }, { timezone: 'UTC', source: 'tasks/prune.ts', warn: (m) => warnings.push(m) })
  t.match(warnings[0], /^tasks\/prune\.ts: runAt "17:00" is ignored/, 'the warning names the source')
  t.same(compile({ runEvery: '3 days', runAt: '17:00' }).warnings, [], 'no warning where runAt applies')
})

t.test('runEveryHour, runEveryMinute, twiceDaily', async (t) => {
  const hourly = compile({ runEveryHour: true }).schedule
  t.same(nextOccurrences(hourly, '2026-05-12T10:00:00Z', 2), ['2026-05-12T11:00:00.000Z', '2026-05-12T12:00:00.000Z'])
  t.equal(hourly.describe(), 'every hour (UTC)')
  t.equal(hourly.cron, '0 * * * *')
  const minutely = compile({ runEveryMinute: true }).schedule
  t.same(nextOccurrences(minutely, '2026-05-12T10:00:30Z', 2), ['2026-05-12T10:01:00.000Z', '2026-05-12T10:02:00.000Z'])
  t.equal(minutely.describe(), 'every minute (UTC)')
  t.equal(minutely.cron, '* * * * *')
  const twice = compile({ twiceDaily: [17, 5] }, 'Europe/Berlin').schedule
  t.same(nextOccurrences(twice, '2026-05-12T00:00:00Z', 3), ['2026-05-12T03:00:00.000Z', '2026-05-12T15:00:00.000Z', '2026-05-13T03:00:00.000Z'])
  t.equal(twice.describe(), 'twice daily at 05:00 and 17:00 (Europe/Berlin)')
  t.equal(twice.cron, '0 5,17 * * *')
  t.equal(compile({ runEveryHour: false, runEveryMinute: true }).schedule.cron, '* * * * *', 'false means off')
})

t.test('no attribute means manual only', async (t) => {
  for (const def of [{}, { runEveryHour: false }, { runEveryMinute: false }] as ScheduleDefinition[]) {
    const { schedule } = compile(def)
    t.equal(schedule.manual, true)
    t.equal(schedule.describe(), 'manual only')
    t.equal(schedule.cron, undefined)
    t.equal(schedule.next(new Date()), undefined)
    t.equal(schedule.previous(new Date()), undefined)
    t.equal(schedule.matches(new Date()), false)
  }
  t.equal(compile({ runAt: '17:00' }).schedule.manual, false)
})

t.test('next is strictly after, previous is at or before, seconds never matter', async (t) => {
  const { schedule } = compile({ runAt: '17:00' })
  t.equal(schedule.next(new Date('2026-05-12T16:59:59.999Z'))?.toISOString(), '2026-05-12T17:00:00.000Z')
  t.equal(schedule.next(new Date('2026-05-12T17:00:00.000Z'))?.toISOString(), '2026-05-13T17:00:00.000Z')
  t.equal(schedule.next(new Date('2026-05-12T17:00:42.000Z'))?.toISOString(), '2026-05-13T17:00:00.000Z')
  t.equal(schedule.previous(new Date('2026-05-12T17:00:00.000Z'))?.toISOString(), '2026-05-12T17:00:00.000Z')
  t.equal(schedule.previous(new Date('2026-05-12T17:03:10.000Z'))?.toISOString(), '2026-05-12T17:00:00.000Z')
  t.equal(schedule.previous(new Date('2026-05-12T16:59:59.999Z'))?.toISOString(), '2026-05-11T17:00:00.000Z')
  t.equal(schedule.matches(new Date('2026-05-12T17:00:59.999Z')), true, 'anywhere in the minute')
  t.equal(schedule.matches(new Date('2026-05-12T17:01:00.000Z')), false)
  const next = schedule.next(new Date('2026-05-12T10:11:12.131Z'))
  t.equal(next?.getUTCSeconds(), 0)
  t.equal(next?.getUTCMilliseconds(), 0)
})

t.test('time zones: the task zone, else the process zone; names are checked', async (t) => {
  t.equal(compileSchedule({ runAt: '17:00' }).timezone, Intl.DateTimeFormat().resolvedOptions().timeZone)
  t.equal(compile({ runAt: '17:00' }, 'europe/berlin').schedule.timezone, 'Europe/Berlin', 'case is fixed')
  t.equal(compile({ runAt: '17:00' }, 'Asia/Kolkata').schedule.timezone, 'Asia/Kolkata', 'the user\'s alias is kept')
  t.equal(compile({ runAt: '17:00' }, 'Asia/Kathmandu').schedule.next(new Date('2026-05-12T00:00:00Z'))?.toISOString(),
    '2026-05-12T11:15:00.000Z', '+05:45')
  t.throws(() => compileSchedule({ runAt: '17:00' }, { timezone: 'Mars/Base', source: 'tasks/x.ts' }),
    { code: 'FST_SCHEDULER_INVALID_SCHEDULE', message: /^tasks\/x\.ts: timezone "Mars\/Base": unknown time zone \(expected an IANA time zone name/ })
  t.throws(() => compileSchedule({}, { timezone: '' }), { message: /^timezone: expected an IANA time zone name/ })
  t.throws(() => compileSchedule({}, { timezone: 2 as unknown as string }), { message: /timezone: .*got 2/ })
})

t.test('an invalid Date is refused', async (t) => {
  const { schedule } = compile({ runAt: '17:00' })
  t.throws(() => schedule.next(new Date('nope')), TypeError)
  t.throws(() => schedule.previous('2026-05-12' as unknown as Date), TypeError)
  t.throws(() => compile({}).schedule.matches(new Date(NaN)), TypeError)
})

t.test('every schedule error names the source, the attribute and what is accepted', async (t) => {
  const errors: Array<[Record<string, unknown>, RegExp]> = [
    [{ runEvery: '3 dayz' }, /runEvery "3 dayz": unknown unit "dayz" \(accepted: minute\(s\), hour\(s\), day\(s\), month\(s\)\)$/],
    [{ runEvery: '1 week' }, /runEvery "1 week": unknown unit "week"/],
    [{ runEvery: 'week' }, /runEvery "week": expected 'N unit' such as '3 days'/],
    [{ runEvery: 'every 3 days' }, /runEvery "every 3 days": expected 'N unit'/],
    [{ runEvery: '3' }, /runEvery "3": expected 'N unit'/],
    [{ runEvery: 3 }, /runEvery: expected 'N unit' .*got 3$/],
    [{ runEvery: '' }, /runEvery "": expected 'N unit'/],
    [{ runEvery: '0 minutes' }, /runEvery "0 minutes": N must be a whole number from 1 to 59 for minutes/],
    [{ runEvery: '60 minutes' }, /runEvery "60 minutes": N must be a whole number from 1 to 59 for minutes/],
    [{ runEvery: '24 hours' }, /runEvery "24 hours": N must be a whole number from 1 to 23 for hours/],
    [{ runEvery: '32 days' }, /runEvery "32 days": N must be a whole number from 1 to 31 for days/],
    [{ runEvery: '13 months' }, /runEvery "13 months": N must be a whole number from 1 to 12 for months/],
    [{ runEvery: '1.5 hours' }, /runEvery "1.5 hours": N must be a whole number/],
    [{ runEvery: '-3 days' }, /runEvery "-3 days": N must be a whole number/],
    [{ runAt: '25:00' }, /runAt "25:00": expected a 24-hour time 'HH:MM' from 00:00 to 23:59/],
    [{ runAt: '17' }, /runAt "17": expected a 24-hour time/],
    [{ runAt: '5pm' }, /runAt "5pm": expected a 24-hour time/],
    [{ runAt: '17:60' }, /runAt "17:60": expected a 24-hour time/],
    [{ runAt: '17:5' }, /runAt "17:5": expected a 24-hour time/],
    [{ runAt: 1700 }, /runAt: expected a 24-hour time .*got 1700$/],
    [{ runEvery: '3 days', runAt: '24:00' }, /runAt "24:00"/],
    [{ runEvery: '5 minutes', runAt: 'noon' }, /runAt "noon"/],
    [{ twiceDaily: [5, 5] }, /twiceDaily \[5, 5\]: expected two distinct whole hours from 0 to 23/],
    [{ twiceDaily: [5] }, /twiceDaily \[5\]: expected two distinct whole hours/],
    [{ twiceDaily: [5, 24] }, /twiceDaily \[5, 24\]/],
    [{ twiceDaily: [1.5, 13] }, /twiceDaily \[1.5, 13\]/],
    [{ twiceDaily: '1,13' }, /twiceDaily "1,13"/],
    [{ runEveryHour: 'yes' }, /runEveryHour: expected true or false, got "yes"/],
    [{ runEveryMinute: 1 }, /runEveryMinute: expected true or false, got 1/],
    [{ runEvery: '3 days', twiceDaily: [1, 13] }, /two schedules on one task: runEvery and twiceDaily \(use one of: runEvery \(with an optional runAt\), runAt, runEveryHour, runEveryMinute, twiceDaily, cron\)/],
    [{ runEveryHour: true, runEveryMinute: true }, /two schedules on one task: runEveryHour and runEveryMinute/],
    [{ cron: '* * * * *', runEvery: '1 day' }, /two schedules on one task: runEvery and cron/],
    [{ cron: '* * * * *', runAt: '17:00' }, /two schedules on one task: runAt and cron/],
    [{ twiceDaily: [1, 13], runAt: '17:00' }, /two schedules on one task: runAt and twiceDaily/],
    [{ runEveryHour: true, runAt: '17:00' }, /two schedules on one task: runAt and runEveryHour/],
    [{ runEvery: '3 days', runAt: '17:00', cron: '0 0 * * *' }, /two schedules on one task: runEvery and cron/],
    [{ cron: '' }, /cron: expected a 5-field cron expression such as '\*\/5 \* \* \* \*', got ""/],
    [{ cron: '0 0 L * *' }, /cron "0 0 L \* \*": day-of-month "L" is not supported/],
    [{ runEvry: '3 days' }, /unknown schedule attribute "runEvry" — did you mean "runEvery"\?/]
  ]
  for (const [def, message] of errors) {
    t.throws(() => compileSchedule(loose(def), { timezone: 'UTC', source: 'tasks/x.ts' }),
      { code: 'FST_SCHEDULER_INVALID_SCHEDULE', message: new RegExp(`^tasks/x\\.ts: ${message.source.replace(/^\^/, '')}`) },
      JSON.stringify(def))
  }
  t.throws(() => compileSchedule(loose({ runEvery: '3 dayz' })), { message: /^runEvery "3 dayz"/ }, 'no source, no prefix')
  t.throws(() => compileSchedule(null as unknown as ScheduleDefinition), { message: /expected schedule attributes \(an object\), got null/ })
})

t.test('the other task options may come along and are not read', async (t) => {
  const task = { name: 'report', timezone: 'Mars/Base', timeout: '1 minute', catchUp: false, allowOverlap: true, enabled: true, runAt: '17:00', handle () {} }
  t.equal(compileSchedule(task as ScheduleDefinition, { timezone: 'UTC' }).describe(), 'daily at 17:00 (UTC)')
})
