/**
 * Plugin options (docs/ARCHITECTURE.md#options): resolved once at registration; anything wrong fails the boot
 * with FST_SCHEDULER_INVALID_OPTION naming the option and what is accepted.
 */
import t from 'tap'
import Fastify from 'fastify'
import fastifyScheduler from '../../plugin.js'
import { memoryStore } from '../../plugin/stores/memory.js'
import type { SchedulerOptions } from '../../plugin/types.js'

async function boot (options: Record<string, unknown>) {
  const app = Fastify({ logger: false })
  await app.register(fastifyScheduler, { dir: false, store: memoryStore(), routes: false, ...options } as SchedulerOptions)
  await app.ready()
  return app
}

const cases: Array<[string, Record<string, unknown>, RegExp]> = [
  ['a misspelt option', { histroyLimit: 10 }, /unknown option "histroyLimit" — did you mean "historyLimit"\?/],
  ['an unknown option with no near match', { colour: 'blue' }, /unknown option "colour" \(accepted: dir, tasks, store/],
  ['a time zone that does not exist', { timezone: 'Mars/Olympus' }, /timezone: "Mars\/Olympus" is not an IANA time zone/],
  ['a duration that does not parse', { maxWait: 'soon' }, /maxWait/],
  ['a negative duration', { expectTickEvery: -5 }, /expectTickEvery/],
  ['a history limit of zero', { historyLimit: 0 }, /historyLimit/],
  ['a fractional history limit', { historyLimit: 2.5 }, /historyLimit/],
  ['a store that is not a store', { store: { kind: 'redis' } }, /store: not a store \(missing methods init, close, ensureTasks, .*\); use memoryStore\(\)/],
  ['a clock that is not a function', { clock: 42 }, /clock: must be a function/],
  ['a lease too short to renew', { leaseTime: '10 ms' }, /leaseTime: must be at least 100 ms/],
  ['a prefix without a leading slash', { prefix: 'schedule' }, /prefix/],
  ['tasks that is not an array', { tasks: 'say-hi' }, /tasks/],
  ['a clock skew bound shorter than a round trip', { maxClockSkew: '10 ms' }, /maxClockSkew: must be at least 1 second .*or false/],
  ['a clock skew bound that does not parse', { maxClockSkew: 'tiny' }, /maxClockSkew/],
  ['a late-result grace that does not parse', { lateResultGrace: 'a while' }, /lateResultGrace/]
]

for (const [label, options, message] of cases) {
  t.test(`${label} fails the boot`, async t => {
    await t.rejects(boot(options), { code: 'FST_SCHEDULER_INVALID_OPTION', message })
  })
}

t.test('durations accept strings and milliseconds', async t => {
  const app = await boot({ maxWait: '2 seconds', expectTickEvery: 60_000, leaseTime: '30 seconds', closeGracePeriod: '1 second', maxClockSkew: '2 minutes', lateResultGrace: 0 })
  t.teardown(() => app.close())
  t.same(app.scheduler.taskNames, [])
})

t.test('maxClockSkew: false turns the clock measurement off', async t => {
  const app = await boot({ maxClockSkew: false })
  t.teardown(() => app.close())
  t.same(app.scheduler.taskNames, [])
})
