/**
 * `fastify-scheduler work`: the loop is driven minute by minute through an injected clock
 * and timer (nothing sleeps); then the real command is spawned, ticks at start-up, and
 * stops cleanly on SIGTERM.
 */
import t from 'tap'
import { startWorkLoop, work, type WorkClock } from '../../cli/work.js'
import { tasks } from '../fixtures/cli-app/app.js'
import { buildApp } from '../helpers/app.js'
import { CLI_APP, runCli } from '../helpers/cli.js'

interface FakeTimer { at: number, callback: () => void }

/** A clock whose timers fire only when the test says so. */
function fakeClock (start: string) {
  let now = Date.parse(start)
  const timers: FakeTimer[] = []
  const clock: WorkClock = {
    now: () => now,
    setTimeout (callback, ms) {
      const timer = { at: now + ms, callback }
      timers.push(timer)
      return timer
    },
    clearTimeout (handle) {
      const index = timers.indexOf(handle as FakeTimer)
      if (index >= 0) timers.splice(index, 1)
    }
  }
  return {
    clock,
    timers,
    set (iso: string) { now = Date.parse(iso) },
    advance (ms: number) { now += ms },
    /** Fire the only pending timer, at its time (or at `at`, to model a timer that fires early). */
    fire (at?: string) {
      if (timers.length !== 1) throw new Error(`expected exactly one armed timer, found ${timers.length}`)
      const [timer] = timers.splice(0, 1)
      now = at !== undefined ? Date.parse(at) : timer.at
      timer.callback()
    }
  }
}

const iso = (date: Date): string => date.toISOString()

t.test('ticks at start-up, then at second 0 of every minute', async t => {
  const fake = fakeClock('2026-05-11T12:00:30.250Z')
  const ticks: string[] = []
  const loop = startWorkLoop({ clock: fake.clock, tick: async now => { ticks.push(iso(now)) } })
  await loop.idle
  t.same(ticks, ['2026-05-11T12:00:30.250Z'])
  t.equal(new Date(fake.timers[0].at).toISOString(), '2026-05-11T12:01:00.000Z', 'armed for the next minute')
  for (let i = 0; i < 3; i++) {
    fake.fire()
    await loop.idle
  }
  t.same(ticks, ['2026-05-11T12:00:30.250Z', '2026-05-11T12:01:00.000Z', '2026-05-11T12:02:00.000Z', '2026-05-11T12:03:00.000Z'])
  await loop.stop()
  t.equal(fake.timers.length, 0, 'stop clears the timer')
})

t.test('a timer that fires early re-arms without ticking the same minute twice', async t => {
  const fake = fakeClock('2026-05-11T12:00:00Z')
  const ticks: string[] = []
  const loop = startWorkLoop({ clock: fake.clock, tick: async now => { ticks.push(iso(now)) } })
  await loop.idle
  fake.fire('2026-05-11T12:00:59.990Z')
  await loop.idle
  t.same(ticks, ['2026-05-11T12:00:00.000Z'])
  t.equal(fake.timers[0].at - fake.clock.now(), 10, 're-armed for the remaining 10 ms')
  fake.fire()
  await loop.idle
  t.same(ticks, ['2026-05-11T12:00:00.000Z', '2026-05-11T12:01:00.000Z'])
  await loop.stop()
})

t.test('a tick slower than a minute is followed by the next minute, not a backlog', async t => {
  const fake = fakeClock('2026-05-11T12:00:00Z')
  const ticks: string[] = []
  const loop = startWorkLoop({
    clock: fake.clock,
    tick: async now => {
      ticks.push(iso(now))
      if (ticks.length === 1) fake.advance(90_000)
    }
  })
  await loop.idle
  t.equal(new Date(fake.timers[0].at).toISOString(), '2026-05-11T12:02:00.000Z')
  fake.fire()
  await loop.idle
  t.same(ticks, ['2026-05-11T12:00:00.000Z', '2026-05-11T12:02:00.000Z'])
  await loop.stop()
})

t.test('a failing tick is reported and the loop goes on', async t => {
  const fake = fakeClock('2026-05-11T12:00:00Z')
  const errors: unknown[] = []
  let calls = 0
  const loop = startWorkLoop({
    clock: fake.clock,
    tick: async () => { if (++calls === 1) throw new Error('store unavailable') },
    onError: err => errors.push(err)
  })
  await loop.idle
  fake.fire()
  await loop.idle
  t.equal(calls, 2)
  t.match(errors, [{ message: 'store unavailable' }])
  await loop.stop()
})

t.test('stop waits for the tick in progress and arms nothing more', async t => {
  const fake = fakeClock('2026-05-11T12:00:00Z')
  let release: () => void = () => {}
  const loop = startWorkLoop({ clock: fake.clock, tick: () => new Promise<void>(resolve => { release = resolve }) })
  let stopped = false
  const stopping = loop.stop().then(() => { stopped = true })
  await Promise.resolve()
  t.notOk(stopped, 'still waiting for the tick')
  release()
  await stopping
  t.equal(fake.timers.length, 0)
})

t.test('work() ticks the app every minute and writes one line per finished run', async t => {
  const app = await buildApp({ tasks })
  t.teardown(() => app.close())
  const fake = fakeClock('2026-05-11T12:00:10Z')
  const lines: string[] = []
  let seen: () => void = () => {}
  const write = (line: string): void => {
    lines.push(line)
    if (lines.length % 2 === 0) seen()
  }
  const bothReported = (): Promise<void> => new Promise(resolve => { seen = resolve })
  let stop: () => void = () => {}
  const working = work(app, { clock: fake.clock, write, stop: new Promise<void>(resolve => { stop = resolve }) })

  await bothReported()
  fake.fire()
  await bothReported()
  stop()
  await working
  t.same(lines.map(line => line.split(' ').slice(0, 3).join(' ')).sort(), [
    '2026-05-11T12:00:00.000Z boom failed',
    '2026-05-11T12:00:00.000Z ok succeeded',
    '2026-05-11T12:01:00.000Z boom failed',
    '2026-05-11T12:01:00.000Z ok succeeded'
  ])
  t.match(lines.find(line => line.includes('boom failed')), / boom failed \d+ ms: boom: the fixture task fails on purpose\n$/)
  t.equal(fake.timers.length, 0, 'stopped: no timer left armed')
})

t.test('the real command ticks at start-up and exits 0 on SIGTERM', async t => {
  let output = ''
  const result = await runCli(['work', '--app', CLI_APP], {
    onStdout: (chunk, child) => {
      output += chunk
      // Both fixture tasks run every minute: once both have reported, stop the worker.
      if (/ ok succeeded/.test(output) && / boom failed/.test(output)) child.kill('SIGTERM')
    }
  })
  t.equal(result.code, 0, result.stderr)
  t.match(result.stderr, /ticking at second 0 of every minute/)
  t.match(result.stdout, /^\S+ ok succeeded \d+ ms$/m)
  t.match(result.stdout, /^\S+ boom failed \d+ ms: boom: the fixture task fails on purpose$/m)
})
