/**
 * Daylight saving (docs/ARCHITECTURE.md#dst-and-schedules), pinned in four zones. Minute and hour schedules follow elapsed
 * time (a repeated hour runs twice, a skipped hour owes nothing); day, month, runAt,
 * twiceDaily and fixed-hour cron schedules follow the wall clock (a time in the gap runs
 * once at the end of the gap, a time that exists twice runs once, at its first pass).
 *
 * 2026 transitions (checked against Intl in zone.test.ts):
 * - America/New_York: Mar 8 02:00 EST → 03:00 EDT (07:00Z); Nov 1 02:00 EDT → 01:00 EST (06:00Z)
 * - Europe/Berlin: Mar 29 02:00 CET → 03:00 CEST (01:00Z); Oct 25 03:00 CEST → 02:00 CET (01:00Z)
 * - Australia/Lord_Howe (30-minute shift): Apr 5 02:00 +11 → 01:30 +10:30 (Apr 4 15:00Z);
 *   Oct 4 02:00 +10:30 → 02:30 +11 (Oct 3 15:30Z)
 * - Asia/Kathmandu (+05:45, no DST): its one change, 1986-01-01 00:00 +05:30 → 00:15 +05:45 (1985-12-31 18:30Z)
 */
import t from 'tap'
import { compile, iso, nextOccurrences, occurrencesBetween } from './helpers.js'

t.test('America/New_York', async (t) => {
  t.test('spring forward: a 02:30 daily task runs once, at 03:00 EDT', async (t) => {
    t.same(occurrencesBetween(t, { runAt: '02:30' }, 'America/New_York', '2026-03-07T00:00:00Z', '2026-03-10T00:00:00Z'),
      [iso('2026-03-07T02:30', '-05:00'), iso('2026-03-08T03:00', '-04:00'), iso('2026-03-09T02:30', '-04:00')])
  })
  t.test('spring forward: an hourly task skips 02:00, which does not exist', async (t) => {
    t.same(occurrencesBetween(t, { runEveryHour: true }, 'America/New_York', '2026-03-08T05:30:00Z', '2026-03-08T08:30:00Z'),
      [iso('2026-03-08T01:00', '-05:00'), iso('2026-03-08T03:00', '-04:00'), iso('2026-03-08T04:00', '-04:00')])
  })
  t.test('fall back: a 01:30 daily task runs once, at the first 01:30 (EDT)', async (t) => {
    t.same(occurrencesBetween(t, { runAt: '01:30' }, 'America/New_York', '2026-10-31T12:00:00Z', '2026-11-02T12:00:00Z'),
      [iso('2026-11-01T01:30', '-04:00'), iso('2026-11-02T01:30', '-05:00')])
  })
  t.test('fall back: an hourly task runs in both passes of 01:00', async (t) => {
    t.same(occurrencesBetween(t, { runEveryHour: true }, 'America/New_York', '2026-11-01T04:30:00Z', '2026-11-01T07:30:00Z'),
      [iso('2026-11-01T01:00', '-04:00'), iso('2026-11-01T01:00', '-05:00'), iso('2026-11-01T02:00', '-05:00')])
  })
  t.test('fixed-hour cron follows the wall clock: the whole gap runs once, a repeated hour once', async (t) => {
    t.same(occurrencesBetween(t, { cron: '*/15 2 * * *' }, 'America/New_York', '2026-03-08T05:00:00Z', '2026-03-08T12:00:00Z'),
      [iso('2026-03-08T03:00', '-04:00')])
    t.same(occurrencesBetween(t, { cron: '0,30 1 * * *' }, 'America/New_York', '2026-11-01T04:00:00Z', '2026-11-01T08:00:00Z'),
      [iso('2026-11-01T01:00', '-04:00'), iso('2026-11-01T01:30', '-04:00')])
  })
  t.test('runEvery N hours follows elapsed time, whatever hours it lists', async (t) => {
    // Santiago's 2026 spring gap is at midnight (00:00 -04 → 01:00 -03): 00:00 does not exist,
    // so nothing is owed for it; the wall-clock rule would run it at 01:00.
    t.same(occurrencesBetween(t, { runEvery: '3 hours' }, 'America/Santiago', '2026-09-06T02:00:00Z', '2026-09-06T07:00:00Z'),
      [iso('2026-09-06T03:00', '-03:00')])
    t.same(occurrencesBetween(t, { cron: '0 */3 * * *' }, 'America/Santiago', '2026-09-06T02:00:00Z', '2026-09-06T07:00:00Z'),
      [iso('2026-09-06T01:00', '-03:00'), iso('2026-09-06T03:00', '-03:00')], 'cron with a step over hours lists fixed hours: wall clock')
  })
  t.test('cron over all hours follows elapsed time', async (t) => {
    t.same(occurrencesBetween(t, { cron: '30 * * * *' }, 'America/New_York', '2026-03-08T06:00:00Z', '2026-03-08T08:00:00Z'),
      [iso('2026-03-08T01:30', '-05:00'), iso('2026-03-08T03:30', '-04:00')])
    t.same(occurrencesBetween(t, { cron: '30 */1 * * *' }, 'America/New_York', '2026-11-01T05:00:00Z', '2026-11-01T07:00:00Z'),
      [iso('2026-11-01T01:30', '-04:00'), iso('2026-11-01T01:30', '-05:00')])
  })
  t.test('an every-minute task owes 23 hours on the spring day and 25 on the fall day', async (t) => {
    const { schedule } = compile({ runEveryMinute: true }, 'America/New_York')
    t.equal(countBetween(schedule, iso('2026-03-08T00:00', '-05:00'), iso('2026-03-09T00:00', '-04:00')), 23 * 60)
    t.equal(countBetween(schedule, iso('2026-11-01T00:00', '-04:00'), iso('2026-11-02T00:00', '-05:00')), 25 * 60)
  })
  t.test('a daily task runs once on each day of a month with a clock change', async (t) => {
    const { schedule } = compile({ runAt: '02:30' }, 'America/New_York')
    const march = nextOccurrences(schedule, '2026-03-01T00:00:00Z', 31)
    t.equal(new Set(march).size, 31)
    t.equal(march.at(-1), iso('2026-03-31T02:30', '-04:00'))
  })
})

t.test('Europe/Berlin', async (t) => {
  t.test('spring forward: a 02:30 daily task runs once, at 03:00 CEST', async (t) => {
    t.same(occurrencesBetween(t, { runAt: '02:30' }, 'Europe/Berlin', '2026-03-28T12:00:00Z', '2026-03-30T12:00:00Z'),
      [iso('2026-03-29T03:00', '+02:00'), iso('2026-03-30T02:30', '+02:00')])
  })
  t.test('fall back: a 02:30 daily task runs once, at the first 02:30 (CEST)', async (t) => {
    t.same(occurrencesBetween(t, { runAt: '02:30' }, 'Europe/Berlin', '2026-10-24T12:00:00Z', '2026-10-26T12:00:00Z'),
      [iso('2026-10-25T02:30', '+02:00'), iso('2026-10-26T02:30', '+01:00')])
  })
  t.test('fall back: an hourly task runs in both passes of 02:00; spring: skips 02:00', async (t) => {
    t.same(occurrencesBetween(t, { runEveryHour: true }, 'Europe/Berlin', '2026-10-24T23:30:00Z', '2026-10-25T02:30:00Z'),
      [iso('2026-10-25T02:00', '+02:00'), iso('2026-10-25T02:00', '+01:00'), iso('2026-10-25T03:00', '+01:00')])
    t.same(occurrencesBetween(t, { runEveryHour: true }, 'Europe/Berlin', '2026-03-28T23:30:00Z', '2026-03-29T02:30:00Z'),
      [iso('2026-03-29T01:00', '+01:00'), iso('2026-03-29T03:00', '+02:00'), iso('2026-03-29T04:00', '+02:00')])
  })
  t.test('asked just before the gap ends, a 02:00 task is due at 03:00 CEST', async (t) => {
    const { schedule } = compile({ runAt: '02:00' }, 'Europe/Berlin')
    t.equal(schedule.next(new Date(Date.parse('2026-03-29T01:00:00Z') - 1))?.toISOString(), '2026-03-29T01:00:00.000Z')
    t.equal(schedule.previous(new Date('2026-03-29T01:00:00Z'))?.toISOString(), '2026-03-29T01:00:00.000Z')
  })
  t.test('twiceDaily at 2 and 14 runs once at 03:00 on the spring day', async (t) => {
    t.same(occurrencesBetween(t, { twiceDaily: [2, 14] }, 'Europe/Berlin', '2026-03-28T23:00:00Z', '2026-03-29T22:00:00Z'),
      [iso('2026-03-29T03:00', '+02:00'), iso('2026-03-29T14:00', '+02:00')])
  })
  t.test('every 3 days at 02:30: the 29th is a clock-change day', async (t) => {
    t.same(nextOccurrences(compile({ runEvery: '3 days', runAt: '02:30' }, 'Europe/Berlin').schedule, '2026-03-25T00:00:00Z', 3),
      [iso('2026-03-27T02:30', '+01:00'), iso('2026-03-30T02:30', '+02:00'), iso('2026-04-03T02:30', '+02:00')])
    t.same(nextOccurrences(compile({ runEvery: '29 days', runAt: '02:30' }, 'Europe/Berlin').schedule, '2026-03-25T00:00:00Z', 2),
      [iso('2026-03-29T03:00', '+02:00'), iso('2026-04-29T02:30', '+02:00')])
  })
})

t.test('Australia/Lord_Howe (a 30-minute shift)', async (t) => {
  t.test('spring forward: a 02:15 daily task is in the 02:00–02:30 gap and runs once, at 02:30', async (t) => {
    t.same(occurrencesBetween(t, { runAt: '02:15' }, 'Australia/Lord_Howe', '2026-10-02T12:00:00Z', '2026-10-04T12:00:00Z'),
      [iso('2026-10-03T02:15', '+10:30'), iso('2026-10-04T02:30', '+11:00')])
  })
  t.test('spring forward: a 02:30 daily task runs at 02:30, the first instant after the gap', async (t) => {
    t.same(nextOccurrences(compile({ runAt: '02:30' }, 'Australia/Lord_Howe').schedule, '2026-10-03T00:00:00Z', 2),
      [iso('2026-10-04T02:30', '+11:00'), iso('2026-10-05T02:30', '+11:00')])
  })
  t.test('fall back: a 01:45 daily task runs once, at the first 01:45 (+11)', async (t) => {
    t.same(occurrencesBetween(t, { runAt: '01:45' }, 'Australia/Lord_Howe', '2026-04-04T00:00:00Z', '2026-04-05T20:00:00Z'),
      [iso('2026-04-05T01:45', '+11:00'), iso('2026-04-06T01:45', '+10:30')])
  })
  t.test('fall back repeats 01:30–02:00 only: an hourly task runs 01:00 and 02:00 once each, 90 minutes apart', async (t) => {
    const found = occurrencesBetween(t, { runEveryHour: true }, 'Australia/Lord_Howe', '2026-04-04T13:30:00Z', '2026-04-04T16:00:00Z')
    t.same(found, [iso('2026-04-05T01:00', '+11:00'), iso('2026-04-05T02:00', '+10:30')])
    t.equal(Date.parse(found[1]) - Date.parse(found[0]), 90 * 60_000)
  })
  t.test('fall back: an every-30-minutes task runs both passes of 01:30', async (t) => {
    t.same(occurrencesBetween(t, { runEvery: '30 minutes' }, 'Australia/Lord_Howe', '2026-04-04T13:50:00Z', '2026-04-04T15:40:00Z'),
      [iso('2026-04-05T01:00', '+11:00'), iso('2026-04-05T01:30', '+11:00'), iso('2026-04-05T01:30', '+10:30'), iso('2026-04-05T02:00', '+10:30')])
  })
  t.test('spring forward: an hourly task runs 01:00 then 03:00, 90 minutes apart (02:00 does not exist)', async (t) => {
    t.same(occurrencesBetween(t, { runEveryHour: true }, 'Australia/Lord_Howe', '2026-10-03T14:00:00Z', '2026-10-03T16:30:00Z'),
      [iso('2026-10-04T01:00', '+10:30'), iso('2026-10-04T03:00', '+11:00')])
  })
  t.test('an every-minute task owes 23½ hours on the spring day and 24½ on the fall day', async (t) => {
    const { schedule } = compile({ runEveryMinute: true }, 'Australia/Lord_Howe')
    t.equal(countBetween(schedule, iso('2026-10-04T00:00', '+10:30'), iso('2026-10-05T00:00', '+11:00')), 23.5 * 60)
    t.equal(countBetween(schedule, iso('2026-04-05T00:00', '+11:00'), iso('2026-04-06T00:00', '+10:30')), 24.5 * 60)
  })
})

t.test('Asia/Kathmandu (+05:45)', async (t) => {
  t.test('times are quarter past the UTC hour', async (t) => {
    t.same(nextOccurrences(compile({ runAt: '17:00' }, 'Asia/Kathmandu').schedule, '2026-05-12T00:00:00Z', 1), ['2026-05-12T11:15:00.000Z'])
    t.same(nextOccurrences(compile({ runEveryHour: true }, 'Asia/Kathmandu').schedule, '2026-05-12T00:00:00Z', 2),
      ['2026-05-12T00:15:00.000Z', '2026-05-12T01:15:00.000Z'])
    t.same(nextOccurrences(compile({ runEvery: '7 minutes' }, 'Asia/Kathmandu').schedule, '2026-05-12T00:10:00Z', 2),
      ['2026-05-12T00:11:00.000Z', '2026-05-12T00:15:00.000Z'], ':56 local is :11 UTC, then :00 local is :15 UTC')
  })
  t.test('its 1986 change to +05:45 skipped 00:00–00:15: a 00:10 task ran at 00:15, an hourly one skipped 00:00', async (t) => {
    t.same(occurrencesBetween(t, { runAt: '00:10' }, 'Asia/Kathmandu', '1985-12-30T12:00:00Z', '1986-01-01T12:00:00Z'),
      [iso('1985-12-31T00:10', '+05:30'), iso('1986-01-01T00:15', '+05:45')])
    t.same(occurrencesBetween(t, { runEveryHour: true }, 'Asia/Kathmandu', '1985-12-31T17:00:00Z', '1985-12-31T20:00:00Z'),
      [iso('1985-12-31T23:00', '+05:30'), iso('1986-01-01T01:00', '+05:45')])
  })
})

t.test('monthly and yearly schedules keep their wall-clock time across clock changes', async (t) => {
  const { schedule } = compile({ runEvery: '1 month', runAt: '09:00' }, 'America/New_York')
  t.same(nextOccurrences(schedule, '2026-02-15T00:00:00Z', 3),
    [iso('2026-03-01T09:00', '-05:00'), iso('2026-04-01T09:00', '-04:00'), iso('2026-05-01T09:00', '-04:00')])
  t.same(nextOccurrences(compile({ cron: '0 2 1 1 *' }, 'Europe/Berlin').schedule, '2026-01-02T00:00:00Z', 2),
    [iso('2027-01-01T02:00', '+01:00'), iso('2028-01-01T02:00', '+01:00')], 'a year ahead, across two changes')
  t.same(nextOccurrences(compile({ cron: '30 * 1 1 *' }, 'Europe/Berlin').schedule, '2026-01-01T23:00:00Z', 1),
    [iso('2027-01-01T00:30', '+01:00')], 'an elapsed-time pattern a year ahead')
})

function countBetween (schedule: ReturnType<typeof compile>['schedule'], from: string, to: string): number {
  let count = 0
  let cursor = new Date(new Date(from).getTime() - 1)
  for (;;) {
    const next = schedule.next(cursor)
    if (next === undefined || next.getTime() >= Date.parse(to)) return count
    count++
    cursor = next
  }
}
