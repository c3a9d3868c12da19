/** Durations in task options: milliseconds or 'N unit'. */
import t from 'tap'
import { parseDuration } from '../../tasks/duration.js'

t.test('numbers are milliseconds; strings are N unit, any case and spacing, decimals allowed', async (t) => {
  const cases: Array<[unknown, number]> = [
    [0, 0], [1500, 1500], [0.5, 0.5],
    ['250 ms', 250], ['1 millisecond', 1], ['20 milliseconds', 20],
    ['1 second', 1000], ['30 seconds', 30_000], ['10 minutes', 600_000], ['1 minute', 60_000],
    ['1 hour', 3_600_000], ['1.5 hours', 5_400_000], ['2 days', 172_800_000], ['1 day', 86_400_000],
    ['  10   MINUTES ', 600_000], ['10Minutes', 600_000], ['.5 seconds', 500], ['0 seconds', 0]
  ]
  for (const [value, ms] of cases) t.equal(parseDuration(value, 'timeout'), ms, JSON.stringify(value))
})

t.test('anything else names the field and what is accepted', async (t) => {
  const accepted = /expected a number of milliseconds \(>= 0\) or 'N unit' with unit ms, millisecond\(s\), second\(s\), minute\(s\), hour\(s\) or day\(s\), such as '10 minutes'/
  const cases: Array<[unknown, RegExp]> = [
    [-1, /^timeout -1: /], [Number.NaN, /^timeout NaN: /], [Infinity, /^timeout Infinity: /],
    ['10', /^timeout "10": /], ['10 minuets', /^timeout "10 minuets": /], ['1 week', /^timeout "1 week": /],
    ['-5 seconds', /^timeout "-5 seconds": /], ['ten minutes', /^timeout "ten minutes": /], ['', /^timeout "": /],
    ['1e3 ms', /^timeout "1e3 ms": /], [true, /^timeout: .* got true$/], [null, /^timeout: .* got null$/],
    [{}, /^timeout: .* got an object$/]
  ]
  for (const [value, message] of cases) {
    t.throws(() => parseDuration(value, 'timeout'), TypeError)
    t.throws(() => parseDuration(value, 'timeout'), { message }, String(value))
    t.throws(() => parseDuration(value, 'timeout'), { message: accepted })
  }
})
