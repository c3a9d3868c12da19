/**
 * The `cron` attribute: a standard 5-field expression with Vixie cron's semantics, and its
 * errors. DST behaviour is in schedule-dst.test.ts; agreement with croner in
 * schedule-properties.test.ts.
 */
import t from 'tap'
import { compileSchedule } from '../../tasks/schedule.js'
import { compile, nextOccurrences } from './helpers.js'

const next = (cron: string, from: string, count: number, zone = 'UTC'): string[] =>
  nextOccurrences(compile({ cron }, zone).schedule, from, count).map((iso) => iso.slice(0, 16))

t.test('fields: numbers, lists, ranges, steps and names', async (t) => {
  t.same(next('5,35 9-10 * * *', '2026-05-12T00:00:00Z', 5),
    ['2026-05-12T09:05', '2026-05-12T09:35', '2026-05-12T10:05', '2026-05-12T10:35', '2026-05-13T09:05'])
  t.same(next('10-30/10 * * * *', '2026-05-12T00:00:00Z', 4), ['2026-05-12T00:10', '2026-05-12T00:20', '2026-05-12T00:30', '2026-05-12T01:10'])
  t.same(next('50-59/5 * * * *', '2026-05-12T00:00:00Z', 3), ['2026-05-12T00:50', '2026-05-12T00:55', '2026-05-12T01:50'])
  t.same(next('0 12 * * MON-FRI', '2026-05-15T13:00:00Z', 2), ['2026-05-18T12:00', '2026-05-19T12:00'], 'Friday → Monday')
  t.same(next('0 0 1 jan,Jul *', '2026-05-12T00:00:00Z', 2), ['2026-07-01T00:00', '2027-01-01T00:00'], 'names in any case')
  t.same(next('0 0 * * 7', '2026-05-12T00:00:00Z', 1), ['2026-05-17T00:00'], '7 is Sunday')
  t.same(next('0 0 * * 0', '2026-05-12T00:00:00Z', 1), ['2026-05-17T00:00'], '0 is Sunday')
  t.same(next('0 0 * * 5-7', '2026-05-12T00:00:00Z', 3), ['2026-05-15T00:00', '2026-05-16T00:00', '2026-05-17T00:00'])
  t.same(next('0 0 29 2 *', '2026-05-12T00:00:00Z', 2), ['2028-02-29T00:00', '2032-02-29T00:00'], 'leap days')
  t.same(next('0 0 31 * *', '2026-05-12T00:00:00Z', 2), ['2026-05-31T00:00', '2026-07-31T00:00'])
})

t.test('day of month and day of week: either when both are restricted, both when one starts with *', async (t) => {
  t.same(next('0 0 13 * 5', '2026-05-12T00:00:00Z', 3), ['2026-05-13T00:00', '2026-05-15T00:00', '2026-05-22T00:00'], '13th or Friday')
  t.same(next('0 0 */2 * 1', '2026-05-01T00:00:00Z', 3), ['2026-05-11T00:00', '2026-05-25T00:00', '2026-06-01T00:00'],
    'Vixie: */2 counts as *, so odd days that are Mondays')
  t.same(next('0 0 1 * *', '2026-05-12T00:00:00Z', 1), ['2026-06-01T00:00'])
})

t.test('nicknames and spacing', async (t) => {
  const cases: Array<[string, string]> = [
    ['@yearly', '0 0 1 1 *'], ['@annually', '0 0 1 1 *'], ['@monthly', '0 0 1 * *'], ['@weekly', '0 0 * * 0'],
    ['@daily', '0 0 * * *'], ['@midnight', '0 0 * * *'], ['@HOURLY', '0 * * * *'], ['  */5   *  * * *  ', '*/5 * * * *']
  ]
  for (const [cron, expression] of cases) t.equal(compile({ cron }).schedule.cron, expression, cron)
  t.equal(compile({ cron: '*/5 * * * *' }, 'Europe/Berlin').schedule.describe(), 'cron */5 * * * * (Europe/Berlin)')
})

t.test('cron errors name the expression, the field and what is accepted', async (t) => {
  const errors: Array<[string, RegExp]> = [
    ['* * * *', /expected 5 fields \(minute hour day-of-month month day-of-week\), got 4/],
    ['0 * * * * *', /expected 5 fields .*got 6/],
    ['0 0 1 1 * 2026', /expected 5 fields .*got 6/],
    ['61 * * * *', /minute 61 is out of range 0–59/],
    ['0 24 * * *', /hour 24 is out of range 0–23/],
    ['0 0 0 * *', /day-of-month 0 is out of range 1–31/],
    ['0 0 1 13 *', /month 13 is out of range 1–12/],
    ['0 0 * * 8', /day-of-week 8 is out of range 0–7/],
    ['0 0 L * *', /day-of-month "L" is not supported \(accepted in each field: \*, numbers, names such as MON or JAN, ranges a-b, lists a,b and steps \*\/n, a-b\/n\)/],
    ['0 0 15W * *', /day-of-month "15W" is not supported/],
    ['0 0 * * 5#2', /day-of-week "5#2" is not supported/],
    ['0 0 * * 5L', /day-of-week "5L" is not supported/],
    ['0 0 ? * MON', /day-of-month "\?" is not supported/],
    ['MON * * * *', /minute "MON" is not supported/],
    ['*/0 * * * *', /minute step "\/0" must be a whole number from 1 to 60/],
    ['*/61 * * * *', /minute step "\/61"/],
    ['50/5 * * * *', /minute "50\/5": a step needs \* or a range \(write 50-59\/5 or \*\/5\)/],
    ['30-10 * * * *', /minute range "30-10" runs backwards/],
    ['0 0 * * FRI-MON', /day-of-week range "FRI-MON" runs backwards/],
    ['1,,2 * * * *', /minute "" is not supported/],
    ['0 0 30 2 *', /never matches: no selected month has the selected day of the month/],
    ['0 0 31 4,6,9,11 *', /never matches/],
    ['@reboot', /unknown nickname "@reboot" \(accepted: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly\)/]
  ]
  for (const [cron, message] of errors) {
    const escaped = cron.replace(/[*?#]/g, '\\$&')
    t.throws(() => compileSchedule({ cron }, { timezone: 'UTC', source: 'tasks/x.ts' }),
      { code: 'FST_SCHEDULER_INVALID_SCHEDULE', message: new RegExp(`^tasks/x\\.ts: cron "${escaped}": ${message.source}`) }, cron)
  }
  t.throws(() => compileSchedule({ cron: '   ' }, { timezone: 'UTC' }), { message: /^cron: expected a 5-field cron expression/ })
  t.throws(() => compileSchedule({ cron: 5 as unknown as string }, { timezone: 'UTC' }), { message: /^cron: .*got 5$/ })
  t.not(compile({ cron: '0 0 30 2 1' }).schedule.next(new Date()), undefined, 'Feb 30 or Monday: Mondays match')
})
