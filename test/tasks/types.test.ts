/**
 * Compile-time checks of the object form: `tsc --noEmit` (part of `npm test`) fails if a
 * `@ts-expect-error` line below stops being an error, or a valid form stops compiling.
 */
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { Task, defineTask } from '../../tasks/task.js'
import type { RunAt, RunEvery, TaskContext } from '../../tasks/types.js'

// Valid forms compile, and `handle`'s context is typed without annotations.
const prune = defineTask({
  runEveryMinute: true,
  async handle ({ app, log, scheduledFor }) {
    log.info({ at: scheduledFor.toISOString(), plugins: app.printPlugins.length }, 'pruned')
  }
})
const report = defineTask({ name: 'report', runEvery: '3 days', runAt: '17:00', timezone: 'Europe/Berlin', handle () {} })
const twice = defineTask({ twiceDaily: [1, 13], timeout: '30 seconds', catchUp: '15 minutes', handle () {} })
const hourly = defineTask({ runEvery: '2 Hours', allowOverlap: true, enabled: false, catchUp: false, timeout: 5000, handle () {} })
const cron = defineTask({ cron: '*/5 * * * *', runAt: '5:30', handle (ctx: TaskContext) { return ctx.runId } })
const manual = defineTask({ handle () {} })

// @ts-expect-error: '3 dayz' is not a RunEvery
defineTask({ runEvery: '3 dayz', handle () {} })
// @ts-expect-error: unknown key (a typo of runEvery)
defineTask({ run_every: '3 days', handle () {} })
// @ts-expect-error: unknown key
defineTask({ runEvery: '3 days', retries: 3, handle () {} })
// @ts-expect-error: runAt must be 24-hour HH:MM
defineTask({ runAt: '25:00', handle () {} })
// @ts-expect-error: runAt needs minutes
defineTask({ runAt: '17', handle () {} })
// @ts-expect-error: a task needs handle
defineTask({ runEveryHour: true })
// @ts-expect-error: twiceDaily takes two hours
defineTask({ twiceDaily: [1, 2, 3], handle () {} })
// @ts-expect-error: timeout takes a duration
defineTask({ timeout: '10 minuets', handle () {} })

const runEvery: RunEvery[] = ['1 minute', '7 minutes', '1 Hour', '3 DAYS', '12 months']
const runAt: RunAt[] = ['0:00', '5:30', '05:30', '17:00', '23:59']

// The class form (docs/ARCHITECTURE.md#tasks) compiles as written, even under noImplicitOverride (no `override` needed).
class SayHi extends Task {
  runEvery = '3 days'
  runAt = '17:00'
  timeout = '1 minute'
  catchUp = '15 minutes'
  name = 'say-hi'
  constructor (private readonly app: FastifyInstance) { super() }
  async handle (ctx: TaskContext): Promise<void> { ctx.log.info({ plugins: this.app.printPlugins().length }, 'hi') }
}

// @ts-expect-error: a Task subclass must implement handle
class NoHandle extends Task { runEvery = '1 day' }

t.test('the object form returns its argument, typed as written', async (t) => {
  t.equal(report.runEvery, '3 days')
  t.same(twice.twiceDaily, [1, 13])
  t.equal(hourly.runEvery, '2 Hours')
  t.equal(cron.cron, '*/5 * * * *')
  t.type(prune.handle, 'function')
  t.type(manual.handle, 'function')
  t.equal(runEvery.length + runAt.length, 10)
  t.equal(typeof SayHi, 'function')
  t.equal(typeof NoHandle, 'function')
})
