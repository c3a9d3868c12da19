/**
 * Whether a cron pattern follows elapsed time or the wall clock (docs/ARCHITECTURE.md#dst-and-schedules) depends on the set
 * of hours its hour field allows, not on how the field is spelled: `0 00-23 * * *`,
 * `0 0,1-23 * * *` and `0 0-11,12-23 * * *` are `0 * * * *` written otherwise, so across a
 * clock change they run exactly when `0 * * * *` and `0 0-23 * * *` do.
 *
 * 2026 transitions: America/New_York Mar 8 07:00Z (02:00 skipped), Nov 1 06:00Z (01:00 twice);
 * Europe/Berlin Mar 29 01:00Z (02:00 skipped), Oct 25 01:00Z (02:00 twice).
 */
import t from 'tap'
import { cronPattern } from '../../tasks/cron.js'
import { iso, occurrencesBetween } from './helpers.js'

const EVERY_HOUR_SPELLINGS = ['0 00-23 * * *', '0 0,1-23 * * *', '0 0-11,12-23 * * *']

const WINDOWS = [
  {
    zone: 'America/New_York',
    label: 'spring forward: 01:00 EST, then 03:00 EDT (02:00 does not exist)',
    from: '2026-03-08T05:30:00Z',
    to: '2026-03-08T08:30:00Z',
    expected: [iso('2026-03-08T01:00', '-05:00'), iso('2026-03-08T03:00', '-04:00'), iso('2026-03-08T04:00', '-04:00')]
  },
  {
    zone: 'America/New_York',
    label: 'fall back: both passes of 01:00',
    from: '2026-11-01T04:30:00Z',
    to: '2026-11-01T07:30:00Z',
    expected: [iso('2026-11-01T01:00', '-04:00'), iso('2026-11-01T01:00', '-05:00'), iso('2026-11-01T02:00', '-05:00')]
  },
  {
    zone: 'Europe/Berlin',
    label: 'spring forward: 01:00 CET, then 03:00 CEST (02:00 does not exist)',
    from: '2026-03-28T23:30:00Z',
    to: '2026-03-29T02:30:00Z',
    expected: [iso('2026-03-29T01:00', '+01:00'), iso('2026-03-29T03:00', '+02:00'), iso('2026-03-29T04:00', '+02:00')]
  },
  {
    zone: 'Europe/Berlin',
    label: 'fall back: both passes of 02:00',
    from: '2026-10-24T23:30:00Z',
    to: '2026-10-25T02:30:00Z',
    expected: [iso('2026-10-25T02:00', '+02:00'), iso('2026-10-25T02:00', '+01:00'), iso('2026-10-25T03:00', '+01:00')]
  }
]

for (const { zone, label, from, to, expected } of WINDOWS) {
  t.test(`${zone}, ${label}`, async (t) => {
    t.same(occurrencesBetween(t, { cron: '0 * * * *' }, zone, from, to), expected, '0 * * * *')
    t.same(occurrencesBetween(t, { cron: '0 0-23 * * *' }, zone, from, to), expected, '0 0-23 * * *')
    for (const cron of EVERY_HOUR_SPELLINGS) {
      t.same(occurrencesBetween(t, { cron }, zone, from, to), expected, cron)
    }
  })
}

t.test('a full list of the hours of */N runs like */N', async (t) => {
  const from = '2026-11-01T03:30:00Z'
  const to = '2026-11-01T08:30:00Z'
  const expected = occurrencesBetween(t, { cron: '0 */2 * * *' }, 'America/New_York', from, to)
  t.same(expected, [iso('2026-11-01T00:00', '-04:00'), iso('2026-11-01T02:00', '-05:00')], 'the hour ending 02:00 EST is 2 hours long')
  t.same(occurrencesBetween(t, { cron: '0 0,2,4,6,8,10,12,14,16,18,20,22 * * *' }, 'America/New_York', from, to), expected)
  t.same(occurrencesBetween(t, { cron: '0 0-22/2 * * *' }, 'America/New_York', from, to), expected)
})

t.test('the classification reads the set of hours', async (t) => {
  for (const cron of ['0 * * * *', '0 0-23 * * *', ...EVERY_HOUR_SPELLINGS, '0 */1 * * *']) {
    t.equal(cronPattern(cron).everyHour, true, `${cron} follows elapsed time`)
  }
  // Fewer than 24 hours are fixed hours, whatever the spelling: `0,13` is also the set of `*/13`.
  for (const cron of ['0 1-23 * * *', '0 0-22 * * *', '0 0 * * *', '0 */24 * * *', '0 2,4 * * *', '0 1-23/2 * * *', '0 */3 * * *', '0 0,3,6,9,12,15,18,21 * * *', '0 0,13 * * *', '0 23,0 * * *']) {
    t.equal(cronPattern(cron).everyHour, false, `${cron} follows the wall clock`)
  }
})

t.test('*/24 allows hour 0 only and runs like 0 0 * * * on a clock-change day', async (t) => {
  const from = '2026-03-07T00:00:00Z'
  const to = '2026-03-10T00:00:00Z'
  t.same(occurrencesBetween(t, { cron: '0 */24 * * *' }, 'Europe/Berlin', from, to),
    occurrencesBetween(t, { cron: '0 0 * * *' }, 'Europe/Berlin', from, to))
})
