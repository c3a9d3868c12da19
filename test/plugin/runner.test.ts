/**
 * Runs (docs/ARCHITECTURE.md#tasks, #the-tick-path): what a run gets (TaskContext) and how it ends — failure isolation,
 * timeout, overlap, abandoned leases, shutdown.
 */
import t from 'tap'
import Fastify from 'fastify'
import fastifyScheduler from '../../plugin.js'
import { memoryStore } from '../../plugin/stores/memory.js'
import type { Store } from '../../plugin/stores/store.js'
import { defineTask } from '../../tasks/task.js'
import type { TaskContext } from '../../tasks/types.js'
import { at, buildApp, testClock } from '../helpers/app.js'

/** A promise the test resolves by hand. */
function gate () {
  let open!: () => void
  const opened = new Promise<void>(resolve => { open = resolve })
  return { opened, open }
}

t.test('handle receives a full TaskContext', async t => {
  let seen: TaskContext | undefined
  const app = await buildApp({ tasks: [defineTask({ name: 'ctx', runEveryMinute: true, handle (ctx) { seen = ctx } })] })
  t.teardown(() => app.close())
  await (await app.scheduler.tick(at('2026-05-11 10:00:30'))).settled
  t.ok(seen)
  const ctx = seen as TaskContext
  t.equal(ctx.app, app)
  t.equal(ctx.task, 'ctx')
  t.equal(ctx.trigger, 'api')
  t.equal(ctx.forced, false)
  t.equal(ctx.request, undefined)
  t.same(ctx.scheduledFor, at('2026-05-11 10:00'))
  t.match(ctx.runId, /^[0-9a-f-]{36}$/)
  t.type(ctx.signal, AbortSignal)
  t.equal(ctx.signal.aborted, false)
  t.type(ctx.log.info, 'function')
  const history = await app.scheduler.history()
  t.equal(history.runs[0].id, ctx.runId)
})

t.test('a failing task is recorded failed with message and stack; other tasks are unaffected', async t => {
  let okRan = 0
  const app = await buildApp({
    tasks: [
      defineTask({ name: 'boom', runEveryMinute: true, handle () { throw new Error('mail server down') } }),
      defineTask({ name: 'ok', runEveryMinute: true, handle () { okRan++ } })
    ]
  })
  t.teardown(() => app.close())
  const outcomes = await (await app.scheduler.tick(at('2026-05-11 10:00'))).settled
  const byTask = Object.fromEntries(outcomes.map(o => [o.task, o]))
  t.equal(byTask.boom.status, 'failed')
  t.equal(byTask.boom.error, 'mail server down')
  t.equal(byTask.ok.status, 'succeeded')
  t.equal(okRan, 1)
  const [failed] = (await app.scheduler.history({ task: ['boom'] })).runs
  t.equal(failed.status, 'failed')
  t.equal(failed.error, 'mail server down')
  t.match(failed.stack, /Error: mail server down\n\s+at /)
  t.type(failed.durationMs, 'number')
  t.ok(failed.finishedAt)
})

t.test('timeout fires the signal and records timed_out; the lease is kept until handle settles', async t => {
  const store = memoryStore()
  const released = gate()
  let signal: AbortSignal | undefined
  const app = await buildApp({
    store,
    tasks: [defineTask({
      name: 'slow',
      runEveryMinute: true,
      timeout: '30 ms',
      async handle (ctx) {
        signal = ctx.signal
        await released.opened // ignores the signal on purpose, like a careless task
      }
    })]
  })
  t.teardown(() => app.close())
  const result = await app.scheduler.tick(at('2026-05-11 10:00'))
  const [outcome] = await result.settled
  t.equal(outcome.status, 'timed_out')
  t.match(outcome.error, /timed out after 30 ms/)
  t.equal(signal?.aborted, true)
  t.equal((signal?.reason as Error).name, 'TimeoutError')
  // Still running: the next occurrence is skipped for overlap.
  const next = await (await app.scheduler.tick(at('2026-05-11 10:01'))).settled
  t.same(next.map(o => [o.status, o.reason]), [['skipped', 'overlap']])
  released.open()
  await new Promise(resolve => setImmediate(resolve))
  const after = await (await app.scheduler.tick(at('2026-05-11 10:02'))).settled
  t.equal(after[0].status, 'succeeded', 'runs again once the timed-out run has settled')
  const history = await app.scheduler.history()
  t.same(history.runs.map(r => [r.status, r.scheduledFor.toISOString()]).sort(), [
    ['skipped', '2026-05-11T10:01:00.000Z'],
    ['succeeded', '2026-05-11T10:02:00.000Z'],
    ['timed_out', '2026-05-11T10:00:00.000Z']
  ])
})

t.test('overlap: a run still going makes the next occurrence skip; allowOverlap runs both', async t => {
  const first = gate()
  let started = 0
  const app = await buildApp({
    tasks: [
      defineTask({ name: 'single', runEveryMinute: true, async handle () { started++; await first.opened } }),
      defineTask({ name: 'multi', runEveryMinute: true, allowOverlap: true, async handle () { started++; await first.opened } })
    ]
  })
  t.teardown(() => app.close())
  const one = await app.scheduler.tick(at('2026-05-11 10:00'))
  t.same(one.runs.map(r => r.status), ['started', 'started'])
  const two = await app.scheduler.tick(at('2026-05-11 10:01'))
  const statuses = Object.fromEntries(two.runs.map(r => [r.task, r.status]))
  t.same(statuses, { single: 'skipped', multi: 'started' })
  t.equal(started, 3)
  const listing = await app.scheduler.list(at('2026-05-11 10:01'))
  t.same(listing.tasks.map(task => task.runningNow), [true, true])
  first.open()
  await one.settled
  await two.settled
  const skipped = await app.scheduler.history({ status: ['skipped'] })
  t.same(skipped.runs.map(r => [r.task, r.error]), [['single', 'overlap']])
})

t.test('a run whose lease expired is recorded abandoned by the next process, and the task runs again', async t => {
  const store = memoryStore()
  const clock = testClock(at('2026-05-11 10:00'))
  const hang = gate()
  // Process A: starts the run, then "crashes" (we never let it finish and stop renewing).
  const a = Fastify({ logger: false })
  await a.register(fastifyScheduler, {
    dir: false,
    store,
    timezone: 'UTC',
    routes: false,
    clock,
    leaseTime: '1 second',
    tasks: [defineTask({ name: 'job', runEveryMinute: true, async handle () { await hang.opened } })]
  })
  await a.ready()
  const started = await a.scheduler.tick(at('2026-05-11 10:00'))
  t.equal(started.runs[0].status, 'started')
  const crashedRunId = started.runs[0].runId

  // Process B shares the store; its clock is past the lease.
  let ranInB = 0
  const b = Fastify({ logger: false })
  await b.register(fastifyScheduler, {
    dir: false,
    store,
    timezone: 'UTC',
    routes: false,
    clock: () => clock() + 5_000,
    leaseTime: '1 second',
    tasks: [defineTask({ name: 'job', runEveryMinute: true, handle () { ranInB++ } })]
  })
  await b.ready()
  const outcomes = await (await b.scheduler.tick(at('2026-05-11 10:01'))).settled
  t.same(outcomes.map(o => o.status), ['succeeded'])
  t.equal(ranInB, 1)
  const history = await b.scheduler.history({ task: ['job'] })
  const crashed = history.runs.find(r => r.id === crashedRunId)
  t.equal(crashed?.status, 'abandoned')
  t.ok(crashed?.finishedAt)
  hang.open()
  await b.close()
  await a.close()
})

t.test('close aborts running tasks and waits for them', async t => {
  let aborted = false
  const app = await buildApp({
    tasks: [defineTask({
      name: 'long',
      runEveryMinute: true,
      handle (ctx) {
        return new Promise<void>((resolve, reject) => {
          ctx.signal.addEventListener('abort', () => { aborted = true; reject(ctx.signal.reason) })
        })
      }
    })]
  })
  const result = await app.scheduler.tick(at('2026-05-11 10:00'))
  await app.close()
  t.equal(aborted, true)
  const [outcome] = await result.settled
  t.equal(outcome.status, 'failed')
  t.match(outcome.error, /closing/)
  await t.rejects(app.scheduler.tick(at('2026-05-11 10:01')), { code: 'FST_SCHEDULER_CLOSED' })
})

t.test('unknown task names reject with a 404-coded error', async t => {
  const app = await buildApp({ tasks: [defineTask({ name: 'known', runEveryMinute: true, handle () {} })] })
  t.teardown(() => app.close())
  await t.rejects(app.scheduler.tick({ tasks: ['nope'] }), { code: 'FST_SCHEDULER_UNKNOWN_TASK', statusCode: 404, message: /"nope"/ })
})

t.test('a tick with nothing due touches no store', async t => {
  const inner = memoryStore()
  const calls: string[] = []
  const store = new Proxy(inner, {
    get (target, key, receiver) {
      const value = Reflect.get(target, key, receiver)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => { calls.push(String(key)); return (value as (...a: unknown[]) => unknown).apply(target, args) }
    }
  }) as Store
  const app = await buildApp({ store, tasks: [defineTask({ name: 'hourly', runEveryHour: true, handle () {} })] })
  t.teardown(() => app.close())
  await (await app.scheduler.tick(at('2026-05-11 10:00'))).settled
  // The first tick also records the cluster's last tick, in the background (then at most every 5 s).
  await new Promise(resolve => setImmediate(resolve))
  t.ok(calls.includes('heartbeat'), 'the first tick recorded the cluster heartbeat')
  calls.length = 0
  for (let minute = 1; minute < 60; minute++) {
    await app.scheduler.tick(at(`2026-05-11 10:${String(minute).padStart(2, '0')}`))
  }
  t.same(calls, [])
  await (await app.scheduler.tick(at('2026-05-11 11:00'))).settled
  t.same(calls.filter(call => call === 'startRun'), ['startRun'], 'a due task costs one store step to start')
})

t.test('the store failing mid-tick rejects with store-unavailable and the next tick retries', async t => {
  const inner = memoryStore()
  let down = false
  const store = new Proxy(inner, {
    get (target, key, receiver) {
      const value = Reflect.get(target, key, receiver)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        if (down && key !== 'close') return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6379'))
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    }
  }) as Store
  let ran = 0
  const app = await buildApp({ store, tasks: [defineTask({ name: 'm', runEveryMinute: true, handle () { ran++ } })] })
  t.teardown(() => app.close())
  down = true
  await t.rejects(app.scheduler.tick(at('2026-05-11 10:00')), { code: 'FST_SCHEDULER_STORE_UNAVAILABLE', statusCode: 503, message: /ECONNREFUSED/ })
  t.equal(ran, 0)
  down = false
  await (await app.scheduler.tick(at('2026-05-11 10:00:30'))).settled
  t.equal(ran, 1)
})
