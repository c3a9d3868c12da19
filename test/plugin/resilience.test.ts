/**
 * Issue 9 in-process: any thrown value is a failure, leases that hold (and abort the run
 * when lost), final records written after an outage, lost store state never re-runs an
 * occurrence, partial store failures answer 503 naming the tasks, retries claimed once
 * across replicas, and the open store contract.
 */
import t from 'tap'
import { memoryStore } from '../../plugin/stores/memory.js'
import type { Store } from '../../plugin/stores/store.js'
import { interceptStore } from '../helpers/faulty-store.js'
import { RunAbortedError } from '../../plugin/runner.js'
import { defineTask } from '../../tasks/task.js'
import type { TaskContext } from '../../tasks/types.js'
import { at, buildApp, testClock } from '../helpers/app.js'
import { MAX_MESSAGE_LENGTH } from '../../plugin/thrown.js'

/** A store whose every call can be switched to fail (`down`), or whose data can be wiped (`wipe`). */
function switchableStore () {
  let inner = memoryStore()
  let down = false
  const store = interceptStore(() => inner, (method, call, args) => down && method !== 'close'
    ? Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6379'))
    : call(...args), { kind: 'switchable', durable: true })
  return {
    store,
    setDown (value: boolean) { down = value },
    /** The store restarts empty (Redis without persistence, truncated tables). */
    wipe () { inner = memoryStore() },
    get inner () { return inner }
  }
}

t.test('any thrown value is a failed record with a printable message, never a crash', async t => {
  const revoked = Proxy.revocable({}, {})
  revoked.revoke()
  const throwingToString = { toString () { throw new Error('no') } }
  const badMessage = new Error('x')
  Object.defineProperty(badMessage, 'message', { value: { code: 42 } })
  const getterThrows = new Error('y')
  Object.defineProperty(getterThrows, 'message', { get () { throw new Error('getter') } })
  const values: Array<[string, unknown, RegExp]> = [
    ['null', null, /^the task threw null$/],
    ['undefined', undefined, /^the task threw undefined$/],
    ['a string', 'plain string', /^plain string$/],
    ['a number', 42, /^42$/],
    ['an object without prototype', Object.assign(Object.create(null), { why: 'nope' }), /^\{"why":"nope"\}$/],
    ['a revoked Proxy', revoked.proxy, /cannot be printed/],
    ['a throwing toString', throwingToString, /^the task threw a value that cannot be printed$/],
    ['an Error whose message is not a string', badMessage, /\{"code":42\}/],
    ['an Error whose message getter throws', getterThrows, /^Error \(its message could not be read\)$/],
    ['a 5 MB message', new Error('m'.repeat(5_000_000)), /more characters\)$/],
    ['a NUL character', new Error('a\u0000b'), /^a\\0b$/]
  ]
  const app = await buildApp({
    tasks: [
      ...values.map(([label, value]) => defineTask({ name: label, runEveryMinute: true, handle () { throw value } })),
      defineTask({ name: 'fine', runEveryMinute: true, handle () {} })
    ]
  })
  t.teardown(() => app.close())
  const outcomes = await (await app.scheduler.tick(at('2026-05-11 10:00'))).settled
  t.equal(outcomes.find(o => o.task === 'fine')?.status, 'succeeded', 'other tasks are unaffected')
  const { runs } = await app.scheduler.history({ limit: 100 })
  for (const [label, , message] of values) {
    const run = runs.find(r => r.task === label)
    t.equal(run?.status, 'failed', `${label}: recorded failed`)
    t.match(run?.error, message, `${label}: printable message`)
    t.ok((run?.error?.length ?? 0) <= MAX_MESSAGE_LENGTH + 40, `${label}: bounded`)
  }
  t.equal(runs.filter(r => r.status === 'running').length, 0, 'nothing left running')
})

t.test('a lease taken over by another process aborts the run with "lease lost"; its record says so', async t => {
  const shared = memoryStore()
  const clock = testClock(at('2026-05-11 10:00'))
  let seen: TaskContext | undefined
  const contexts: TaskContext[] = []
  let release!: () => void
  const released = new Promise<void>(resolve => { release = resolve })
  const slow = () => defineTask({
    name: 'slow',
    runEveryMinute: true,
    async handle (ctx) {
      seen ??= ctx
      contexts.push(ctx)
      if (ctx === seen) {
        await new Promise<void>((resolve, reject) => {
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true })
          void released.then(resolve)
        })
      }
    }
  })
  // Renewed every 100 ms of real time; expiry is judged by the shared hand-moved clock.
  const a = await buildApp({ store: shared, clock, leaseTime: '300 ms', tasks: [slow()] })
  const b = await buildApp({ store: shared, clock, leaseTime: '300 ms', tasks: [slow()] })
  t.teardown(async () => { release(); await a.close(); await b.close() })

  const first = await a.scheduler.tick()
  t.equal(first.runs[0]?.status, 'started')
  // Process A stops renewing (frozen); the lease expires in the store's time and B takes over.
  clock.advance(2 * 60_000)
  const second = await b.scheduler.tick()
  const outcomes = await second.settled
  t.equal(outcomes[0]?.status, 'succeeded', 'B ran the next occurrence')
  const abandoned = (await a.scheduler.history({ task: ['slow'] })).runs.find(r => r.id === first.runs[0]?.runId)
  t.equal(abandoned?.status, 'abandoned', "B's reaper recorded A's run abandoned")
  // A's next renewal finds the lease gone: its signal fires with "lease lost".
  await t.resolves(new Promise<void>(resolve => seen!.signal.addEventListener('abort', () => resolve(), { once: true })).then(() => {}), 'A is told')
  const reason = seen!.signal.reason as RunAbortedError
  t.equal(reason.reason, 'lease lost')
  t.match(reason.message, /lease lost/)
  const aOutcome = await (first.settled)
  t.equal(aOutcome[0]?.status, 'failed')
  const record = (await a.scheduler.history({ task: ['slow'] })).runs.find(r => r.id === first.runs[0]?.runId)
  t.equal(record?.status, 'failed', 'the late finisher replaces its abandoned mark with how it ended')
  t.match(record?.error, /lease lost/)
  t.ok(contexts[1]!.leaseToken > contexts[0]!.leaseToken, 'the later holder has the larger fencing token')
})

t.test('a run that cannot renew its lease within the lease time is aborted (store unreachable)', async t => {
  const switchable = switchableStore()
  let seen: TaskContext | undefined
  const app = await buildApp({
    store: switchable.store,
    leaseTime: '300 ms',
    tasks: [defineTask({
      name: 'cut-off',
      runEveryMinute: true,
      async handle (ctx) {
        seen = ctx
        await new Promise((resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true }))
      }
    })]
  })
  t.teardown(() => app.close())
  const result = await app.scheduler.tick(at('2026-05-11 10:00'))
  switchable.setDown(true)
  const [outcome] = await result.settled
  t.equal((seen!.signal.reason as RunAbortedError).reason, 'lease lost')
  t.match((seen!.signal.reason as Error).message, /could not renew it within 300 ms/)
  t.equal(outcome?.status, 'failed')
  switchable.setDown(false)
  await app.close()
  const [record] = (await switchable.inner.listRuns({})).runs
  t.equal(record?.status, 'failed', 'its final record reached the store once it was back')
  t.match(record?.error, /lease lost/)
})

t.test('a run that finishes while the store is down is recorded when it is back, never left abandoned', async t => {
  const switchable = switchableStore()
  const clock = testClock(at('2026-05-11 10:00'))
  let finish!: () => void
  const app = await buildApp({
    store: switchable.store,
    clock,
    tasks: [defineTask({ name: 'report', runEveryMinute: true, async handle () { await new Promise<void>(resolve => { finish = resolve }) } })]
  })
  t.teardown(() => app.close())
  const result = await app.scheduler.tick()
  switchable.setDown(true)
  finish()
  const [outcome] = await result.settled
  t.equal(outcome?.status, 'succeeded', 'the answer tells how the run ended')
  t.equal((await switchable.inner.listRuns({})).runs[0]?.status, 'running', 'the store could not take the final record yet')
  // Meanwhile its lease expires and another tick's reaper records it abandoned …
  switchable.setDown(false)
  clock.advance(5 * 60_000)
  await switchable.inner.abandonExpired(clock(), 'lease expired')
  t.equal((await switchable.inner.listRuns({})).runs[0]?.status, 'abandoned')
  // … until the background retry writes the real end.
  await app.close()
  t.equal((await switchable.inner.listRuns({})).runs[0]?.status, 'succeeded', 'a succeeded run is never left abandoned')
})

t.test('store state lost (restarted empty): no occurrence runs twice, tasks are first seen again', async t => {
  const switchable = switchableStore()
  const ran: string[] = []
  const daily = () => defineTask({ name: 'daily', runAt: '17:00', handle (ctx) { ran.push(ctx.scheduledFor.toISOString()) } })
  const a = await buildApp({ store: switchable.store, tasks: [daily()] })
  const b = await buildApp({ store: switchable.store, tasks: [daily()] })
  t.teardown(async () => { await a.close(); await b.close() })
  await a.scheduler.tick(at('2026-05-10 12:00'))
  await b.scheduler.tick(at('2026-05-10 12:00'))
  await (await a.scheduler.tick(at('2026-05-10 17:00'))).settled
  t.same(ran, ['2026-05-10T17:00:00.000Z'])

  switchable.wipe()
  // B is pinged first after the restart: it finds its task state gone and starts afresh.
  await (await b.scheduler.tick(at('2026-05-11 09:00'))).settled
  // A was not pinged since yesterday: its cache says yesterday's run is done, the store knows nothing.
  await (await a.scheduler.tick(at('2026-05-11 09:00'))).settled
  t.same(ran, ['2026-05-10T17:00:00.000Z'], 'yesterday\'s daily task did not run again')
  const state = (await switchable.inner.ensureTasks(['daily'], new Date(0))).get('daily')
  t.same(state?.firstSeen, new Date(at('2026-05-11 09:00').getTime() + 1), 'first seen again just after this minute: its occurrence may have run in the lost state')
  // A's first start after the restart gets lease token 1 again, which it was handed yesterday:
  // the store went back in time, so what it claims may have run already. Not run; recorded.
  await (await a.scheduler.tick(at('2026-05-11 17:02'))).settled
  await (await b.scheduler.tick(at('2026-05-11 17:02'))).settled
  t.same(ran, ['2026-05-10T17:00:00.000Z'], 'the occurrence claimed with a token seen before did not run')
  const [record] = (await switchable.inner.listRuns({ task: ['daily'] })).runs
  t.match(record, { status: 'skipped', scheduledFor: at('2026-05-11 17:00'), error: /store went back in time \(lease token 1, this process had seen 1\)/ }, 'the record says why')
  t.match(await a.scheduler.health(), { healthy: false, status: 'store went back in time' }, 'health says so until a clean tick')
  await (await a.scheduler.tick(at('2026-05-12 17:00'))).settled
  await (await b.scheduler.tick(at('2026-05-12 17:00'))).settled
  t.same(ran, ['2026-05-10T17:00:00.000Z', '2026-05-12T17:00:00.000Z'], 'the next occurrence runs once')
  t.match(await a.scheduler.health(), { status: 'ok' }, 'the clean tick cleared it')
})

t.test('a store failing for some due tasks: they did not start, are named (503), and run at the next tick', async t => {
  const inner = memoryStore()
  let failFor: string | undefined = 'b'
  const store = interceptStore(() => inner, (method, call, args) =>
    method === 'startRun' && (args[0] as { run: { task: string } }).run.task === failFor
      ? Promise.reject(new Error('connection reset'))
      : call(...args))
  const ran: string[] = []
  const task = (name: string) => defineTask({ name, runEvery: '5 minutes', handle () { ran.push(name) } })
  const token = 'x'.repeat(20)
  const clock = testClock(at('2026-05-11 09:59'))
  const app = await buildApp({ store, clock, tasks: [task('a'), task('b')], routes: true, auth: { tokens: [token] } })
  t.teardown(() => app.close())
  const trigger = () => app.inject({ method: 'POST', url: '/_schedule/run', headers: { authorization: `Bearer ${token}` } })
  t.equal((await trigger()).statusCode, 200, 'nothing due yet')
  clock.set(at('2026-05-11 10:00'))
  const response = await trigger()
  t.equal(response.statusCode, 503, 'a due task that could not start is never a 200')
  const body = response.json()
  t.equal(body.status, 'unavailable')
  t.same(body.unavailable.map((u: { task: string }) => u.task), ['b'])
  t.match(body.unavailable[0].error, /connection reset/)
  t.same(body.ran.map((o: { task: string }) => o.task), ['a'], 'the others\' results are in the body')
  t.match(body.summary, /not started \(store unavailable\): b/)
  t.equal((await app.inject({ method: 'GET', url: '/_schedule/health' })).statusCode, 503, 'health says so too')
  failFor = undefined
  clock.set(at('2026-05-11 10:01'))
  const next = await trigger()
  t.equal(next.statusCode, 200)
  t.same(next.json().ran.map((o: { task: string }) => o.task), ['b'], 'b ran at the next tick (catch-up)')
  t.same(ran, ['a', 'b'], 'each once')
  t.same((await app.scheduler.history({ task: ['b'] })).runs.map(r => r.scheduledFor.toISOString()), ['2026-05-11T10:00:00.000Z'])
  t.equal((await app.inject({ method: 'GET', url: '/_schedule/health' })).statusCode, 200, 'healthy again')
})

t.test('retries: a failed run is retried after its delay, claimed once across replicas', async t => {
  const shared = memoryStore()
  let attempts = 0
  const flaky = () => defineTask({
    name: 'flaky',
    runAt: '17:00',
    retries: { attempts: 3, delay: '5 minutes' },
    handle (ctx) { attempts++; if (ctx.attempt < 3) throw new Error(`attempt ${ctx.attempt} failed`) }
  })
  const a = await buildApp({ store: shared, tasks: [flaky()] })
  const b = await buildApp({ store: shared, tasks: [flaky()] })
  t.teardown(async () => { await a.close(); await b.close() })
  await a.scheduler.tick(at('2026-05-11 16:00'))
  await b.scheduler.tick(at('2026-05-11 16:00'))
  await (await a.scheduler.tick(at('2026-05-11 17:00'))).settled
  t.equal(attempts, 1)
  // Too early for the retry.
  await (await b.scheduler.tick(at('2026-05-11 17:04'))).settled
  t.equal(attempts, 1, 'not before its delay')
  // Both replicas pinged at once when it is due: one runs attempt 2.
  const [ra, rb] = await Promise.all([a.scheduler.tick(at('2026-05-11 17:05')), b.scheduler.tick(at('2026-05-11 17:05'))])
  await Promise.all([ra.settled, rb.settled])
  t.equal(attempts, 2, 'attempt 2 ran once')
  const [rc, rd] = await Promise.all([a.scheduler.tick(at('2026-05-11 17:12')), b.scheduler.tick(at('2026-05-11 17:12'))])
  await Promise.all([rc.settled, rd.settled])
  t.equal(attempts, 3, 'attempt 3 ran once and succeeded')
  await (await a.scheduler.tick(at('2026-05-11 17:30'))).settled
  t.equal(attempts, 3, 'no attempt 4')
  const runs = (await a.scheduler.history({ task: ['flaky'] })).runs
  // Runs started within one millisecond tie on startedAt (then order by random id): compare by attempt.
  t.same(runs.map(r => [r.attempt, r.status, r.forced]).sort((a, b) => Number(a[0]) - Number(b[0])), [[1, 'failed', false], [2, 'failed', false], [3, 'succeeded', false]])
  t.ok(runs.every(r => r.scheduledFor.toISOString() === '2026-05-11T17:00:00.000Z'), 'every attempt is of the 17:00 occurrence')
})

t.test('the plugin-wide retries apply to tasks without their own; retries: false opts out; forced runs are not retried', async t => {
  let runs = 0
  let optedOut = 0
  const app = await buildApp({
    retries: { attempts: 2, delay: '1 minute' },
    tasks: [
      defineTask({ name: 'inherits', runAt: '17:00', handle () { runs++; throw new Error('no') } }),
      defineTask({ name: 'opted-out', runAt: '17:00', retries: false, handle () { optedOut++; throw new Error('no') } })
    ]
  })
  t.teardown(() => app.close())
  await app.scheduler.tick(at('2026-05-11 16:00'))
  await (await app.scheduler.tick(at('2026-05-11 17:00'))).settled
  await (await app.scheduler.tick(at('2026-05-11 17:01'))).settled
  t.equal(runs, 2)
  t.equal(optedOut, 1)
  await app.scheduler.run('inherits', { force: true, now: at('2026-05-11 18:00') })
  await (await app.scheduler.tick(at('2026-05-11 18:05'))).settled
  t.equal(runs, 3, 'the forced run was not retried')
})

t.test('the open store contract: any kind, every method checked at registration', async t => {
  const { renewLease, ...missing } = memoryStore()
  void renewLease
  await t.rejects(buildApp({ store: missing as unknown as Store }), { code: 'FST_SCHEDULER_INVALID_OPTION', message: /store: not a store \(missing method renewLease\)/ })
  const custom = { ...memoryStore(), kind: 'dynamodb', durable: true }
  const app = await buildApp({ store: custom })
  t.teardown(() => app.close())
  t.equal((await app.scheduler.list()).store.kind, 'dynamodb')
})

t.test('durations a timer cannot hold fail the boot', async t => {
  await t.rejects(buildApp({ leaseTime: '100 days' }), { message: /leaseTime "100 days": at most 2147483647 ms/ })
  await t.rejects(buildApp({ maxWait: '30 days' }), { message: /maxWait "30 days": at most/ })
  await t.rejects(buildApp({ tasks: [defineTask({ name: 'x', runEveryMinute: true, timeout: '25 days', handle () {} })] }), { message: /timeout "25 days": at most 2147483647 ms/ })
})
