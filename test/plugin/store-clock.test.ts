/**
 * StoreClock on its own (plugin/store-clock.ts): the offset measured halfway through the
 * round trip, the skew bound both ways, and the log lines when a skew begins and ends. The
 * scheduler's use of it is tested in time.test.ts and time-network.test.ts.
 */
import t from 'tap'
import pino from 'pino'
import { Writable } from 'node:stream'
import { memoryStore } from '../../plugin/stores/memory.js'
import type { Store } from '../../plugin/stores/store.js'
import { StoreClock, skewProblem } from '../../plugin/store-clock.js'
import { testClock } from '../helpers/app.js'

t.test('skewProblem: within the bound none; beyond it, which way and by how much', async t => {
  t.equal(skewProblem(30_000, 30_000), undefined, 'exactly at the bound is fine')
  t.equal(skewProblem(-30_000, 30_000), undefined)
  t.equal(skewProblem(-3_600_000, 30_000), 'clock skew +3600 s against the store (maxClockSkew 30 s)', 'this clock runs ahead')
  t.equal(skewProblem(120_400, 30_000), 'clock skew -120 s against the store (maxClockSkew 30 s)', 'this clock runs behind')
})

function logged (): { log: pino.Logger, lines: Array<{ level: number, msg: string, offsetMs?: number }> } {
  const lines: Array<{ level: number, msg: string, offsetMs?: number }> = []
  const sink = new Writable({ write (chunk, _encoding, done) { lines.push(JSON.parse(String(chunk))); done() } })
  return { log: pino(sink), lines }
}

t.test('measure: the offset is taken halfway through the round trip; now() reads store time', async t => {
  const clock = testClock(1_000_000)
  let offset = 5000
  // The store answers 2 s after it was asked; its clock reads `offset` ahead of ours halfway through.
  const store = { ...memoryStore(), time: async () => { clock.advance(2000); return clock() - 1000 + offset } } as Store
  const { log, lines } = logged()
  const storeClock = new StoreClock(clock, 30_000, log)
  t.equal(storeClock.now(), 1_000_000, 'before a measurement: this clock')
  await storeClock.measure(store)
  t.equal(storeClock.now(), 1_002_000 + 5000, 'after: corrected by store − (before + after) / 2')
  t.equal(storeClock.skew, undefined)
  t.doesNotThrow(() => storeClock.refuseIfSkewed())

  offset = -60_000 // this process now runs a minute ahead of the store
  await storeClock.measure(store)
  t.equal(storeClock.skew, 'clock skew +60 s against the store (maxClockSkew 30 s)')
  t.throws(() => storeClock.refuseIfSkewed(), { code: 'FST_SCHEDULER_STORE_UNAVAILABLE', message: /clock skew \+60 s.*; no task was claimed/ })
  await storeClock.measure(store)
  t.same(lines.filter(line => line.level === 50).map(line => line.offsetMs), [-60_000], 'the same skew is logged once, not at each measurement')

  offset = 0
  await storeClock.measure(store)
  t.equal(storeClock.skew, undefined, 'back within the bound: claims again')
  t.match(lines.at(-1), { level: 30, msg: /back within maxClockSkew/ })
})

t.test('never measured: a store without time(), or maxClockSkew false', async t => {
  const clock = testClock(1_000_000)
  let asked = 0
  const store = { ...memoryStore(), time: async () => { asked++; return 0 } } as Store
  const off = new StoreClock(clock, false, logged().log)
  await off.measure(store)
  t.equal(asked, 0)
  t.equal(off.now(), 1_000_000)
  const local = new StoreClock(clock, 30_000, logged().log)
  await local.measure(memoryStore())
  t.equal(local.now(), 1_000_000, 'the memory store shares the host clock')
})
