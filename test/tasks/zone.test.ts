/**
 * The zone machinery against Intl: cached offsets, located transitions, wall → UTC with the
 * gap and overlap rules. These are the facts the DST tests rely on.
 */
import t from 'tap'
import { DAY, HOUR, MINUTE, floorToMinute } from '../../core/time.js'
import { canonicalZoneName, localZoneName, zoneFor } from '../../tasks/zone.js'

/** The offset in minutes at an instant, straight from Intl (slow and obvious). */
function intlOffsetMinutes (zone: string, utc: number): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric'
  }).formatToParts(utc)
  const get = (type: string): number => Number(parts.find((part) => part.type === type)?.value)
  return (Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute')) - floorToMinute(utc)) / MINUTE
}

t.test('2026 transitions are where Intl says they are', async (t) => {
  const cases: Array<[string, string, number, number]> = [
    ['America/New_York', '2026-03-08T07:00:00Z', -300, -240],
    ['America/New_York', '2026-11-01T06:00:00Z', -240, -300],
    ['Europe/Berlin', '2026-03-29T01:00:00Z', 60, 120],
    ['Europe/Berlin', '2026-10-25T01:00:00Z', 120, 60],
    ['Australia/Lord_Howe', '2026-04-04T15:00:00Z', 660, 630],
    ['Australia/Lord_Howe', '2026-10-03T15:30:00Z', 630, 660],
    ['Asia/Kathmandu', '1985-12-31T18:30:00Z', 330, 345]
  ]
  for (const [name, at, before, after] of cases) {
    const zone = zoneFor(name)
    const instant = Date.parse(at)
    t.equal(intlOffsetMinutes(name, instant - MINUTE), before, `${name} before ${at} (Intl)`)
    t.equal(intlOffsetMinutes(name, instant), after, `${name} at ${at} (Intl)`)
    t.same(zone.firstTransitionIn(instant - 40 * DAY, instant + 40 * DAY), { at: instant, before: before * MINUTE, after: after * MINUTE })
    t.equal(zone.lastTransitionIn(instant - 40 * DAY, instant + 40 * DAY)?.at, instant)
    t.equal(zone.offsetAt(instant - 1), before * MINUTE)
    t.equal(zone.offsetAt(instant), after * MINUTE)
  }
  t.equal(zoneFor('Asia/Kathmandu').firstTransitionIn(Date.parse('2000-01-01'), Date.parse('2030-01-01')), undefined, 'no DST')
  t.equal(zoneFor('UTC').offsetAt(Date.parse('2026-05-12T17:00:00Z')), 0)
})

t.test('offsetAt agrees with Intl at random instants in many zones', async (t) => {
  const zones = ['America/New_York', 'Europe/Berlin', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'Pacific/Chatham', 'America/Sao_Paulo', 'Africa/Casablanca', 'Pacific/Apia']
  let seed = 42
  const random = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31 }
  let mismatches = 0
  for (let i = 0; i < 2000; i++) {
    const name = zones[i % zones.length]
    const utc = floorToMinute(Date.parse('1990-01-01') + random() * (Date.parse('2040-01-01') - Date.parse('1990-01-01')))
    if (zoneFor(name).offsetAt(utc) !== intlOffsetMinutes(name, utc) * MINUTE) mismatches++
  }
  t.equal(mismatches, 0)
})

t.test('wall → UTC: a single time, the first pass of a repeated time, the end of a gap', async (t) => {
  const newYork = zoneFor('America/New_York')
  t.equal(new Date(newYork.wallToUtc(Date.UTC(2026, 4, 12, 17, 0))).toISOString(), '2026-05-12T21:00:00.000Z')
  t.equal(new Date(newYork.wallToUtc(Date.UTC(2026, 10, 1, 1, 30))).toISOString(), '2026-11-01T05:30:00.000Z', 'first pass (EDT)')
  t.equal(new Date(newYork.wallToUtc(Date.UTC(2026, 2, 8, 2, 30))).toISOString(), '2026-03-08T07:00:00.000Z', 'gap → 03:00 EDT')
  const lordHowe = zoneFor('Australia/Lord_Howe')
  t.equal(new Date(lordHowe.wallToUtc(Date.UTC(2026, 9, 4, 2, 15))).toISOString(), '2026-10-03T15:30:00.000Z', 'gap → 02:30 +11')
  t.equal(new Date(lordHowe.wallToUtc(Date.UTC(2026, 9, 4, 2, 30))).toISOString(), '2026-10-03T15:30:00.000Z', 'just after the gap')
  t.equal(new Date(lordHowe.wallToUtc(Date.UTC(2026, 3, 5, 1, 45))).toISOString(), '2026-04-04T14:45:00.000Z', 'first pass (+11)')
  t.equal(new Date(lordHowe.wallToUtc(Date.UTC(2026, 3, 5, 2, 0))).toISOString(), '2026-04-04T15:30:00.000Z')
  const apia = zoneFor('Pacific/Apia')
  t.equal(new Date(apia.wallToUtc(Date.UTC(2011, 11, 30, 12, 0))).toISOString(), '2011-12-30T10:00:00.000Z',
    'Samoa skipped 2011-12-30: its times run at the start of the 31st')
  t.equal(apia.offsetAt(Date.parse('2011-12-31T12:00:00Z')) - apia.offsetAt(Date.parse('2011-12-29T12:00:00Z')), 24 * HOUR)
})

t.test('zone names', async (t) => {
  t.equal(canonicalZoneName('europe/berlin'), 'Europe/Berlin')
  t.equal(canonicalZoneName('US/Eastern'), 'US/Eastern', 'aliases keep the user\'s spelling')
  t.equal(canonicalZoneName('Mars/Base'), undefined)
  t.equal(canonicalZoneName('+05:00'), undefined)
  t.equal(localZoneName(), Intl.DateTimeFormat().resolvedOptions().timeZone)
})
