/**
 * Prometheus metrics (docs/OBSERVABILITY.md): the text is parsed by an own parser
 * (test/helpers/prom-text.ts) that also lints names, HELP and TYPE; values are checked against
 * a ledger the tasks write themselves, on two instances sharing one SQLite file.
 */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { Registry } from 'prom-client'
import { sqliteStore } from '../../plugin/stores/sqlite/index.js'
import { memoryStore } from '../../plugin/stores/memory.js'
import { interceptStore } from '../helpers/faulty-store.js'
import { createMetrics } from '../../plugin/metrics.js'
import { defineTask } from '../../tasks/task.js'
import { at, buildApp, testClock } from '../helpers/app.js'
import { parsePromText, sampleValue, type PromFamily, type PromType } from '../helpers/prom-text.js'

const TOKEN = 'metrics-test-token-0123456789'
const AUTH = { authorization: `Bearer ${TOKEN}` }

const FAMILIES: Record<string, PromType> = {
  fastify_scheduler_runs_total: 'counter',
  fastify_scheduler_run_duration_seconds: 'histogram',
  fastify_scheduler_run_lateness_seconds: 'histogram',
  fastify_scheduler_occurrences_coalesced_total: 'counter',
  fastify_scheduler_store_errors_total: 'counter',
  fastify_scheduler_store_operation_duration_seconds: 'histogram',
  fastify_scheduler_task_last_success_timestamp_seconds: 'gauge',
  fastify_scheduler_task_last_run_timestamp_seconds: 'gauge',
  fastify_scheduler_task_consecutive_failures: 'gauge',
  fastify_scheduler_task_next_run_timestamp_seconds: 'gauge',
  fastify_scheduler_last_tick_timestamp_seconds: 'gauge'
}

async function scrape (app: FastifyInstance, headers: Record<string, string> = AUTH): Promise<Map<string, PromFamily>> {
  const res = await app.inject({ method: 'GET', url: '/_schedule/metrics', headers })
  if (res.statusCode !== 200) throw new Error(`metrics answered ${res.statusCode}: ${res.body}`)
  if (!res.headers['content-type']?.toString().startsWith('text/plain')) throw new Error(`content-type ${res.headers['content-type']}`)
  return parsePromText(res.body)
}

const seconds = (d: Date): number => d.getTime() / 1000

t.test('two instances on one SQLite file: counters are each process\'s, gauges the cluster\'s', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-scheduler-metrics-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'state.sqlite')
  const ledger: Array<{ task: string, scheduledFor: Date, ok: boolean }> = []
  const tasks = [
    defineTask({ name: 'good', runEveryMinute: true, handle (ctx) { ledger.push({ task: 'good', scheduledFor: ctx.scheduledFor, ok: true }) } }),
    defineTask({ name: 'bad', runEveryMinute: true, handle (ctx) { ledger.push({ task: 'bad', scheduledFor: ctx.scheduledFor, ok: false }); throw new Error('down') } })
  ]
  const clock = testClock(at('2026-05-11 10:00:20'))
  const options = { tasks, clock, store: sqliteStore({ path }), routes: true, auth: { tokens: [TOKEN] }, maxClockSkew: false as const }
  const a = await buildApp(options)
  t.teardown(() => a.close())
  const b = await buildApp({ ...options, store: sqliteStore({ path }) })
  t.teardown(() => b.close())

  const ticks = [at('2026-05-11 10:01:20'), at('2026-05-11 10:02:20'), at('2026-05-11 10:03:20')]
  for (const now of ticks) {
    clock.set(now)
    await (await a.scheduler.tick(now)).settled
  }
  const good = ledger.filter(e => e.task === 'good')
  const bad = ledger.filter(e => e.task === 'bad')
  t.equal(good.length, 3, 'the ledger: good ran every minute')
  t.equal(bad.length, 3, 'the ledger: bad ran every minute')

  const fa = await scrape(a)
  const fb = await scrape(b)
  for (const families of [fa, fb]) {
    for (const [name, type] of Object.entries(FAMILIES)) {
      const family = families.get(name)
      t.ok(family, `${name} is exposed`)
      t.equal(family?.type, type, `${name} is a ${type}`)
      t.ok((family?.help ?? '').length > 10, `${name} has a HELP line`)
    }
  }

  // Counters and histograms: what process A did, equal to the ledger.
  t.equal(sampleValue(fa, 'fastify_scheduler_runs_total', { task: 'good', status: 'succeeded' }), good.length)
  t.equal(sampleValue(fa, 'fastify_scheduler_runs_total', { task: 'bad', status: 'failed' }), bad.length)
  t.equal(sampleValue(fa, 'fastify_scheduler_run_duration_seconds_count', { task: 'good' }), good.length)
  t.equal(sampleValue(fa, 'fastify_scheduler_run_lateness_seconds_count', { task: 'good' }), good.length)
  // Each run started 20 s after its minute (the clock is the tick's now).
  t.equal(sampleValue(fa, 'fastify_scheduler_run_lateness_seconds_sum', { task: 'good' }), 20 * good.length)
  t.equal(sampleValue(fa, 'fastify_scheduler_run_lateness_seconds_bucket', { task: 'good', le: '15' }), 0)
  t.equal(sampleValue(fa, 'fastify_scheduler_run_lateness_seconds_bucket', { task: 'good', le: '30' }), good.length)
  t.ok((sampleValue(fa, 'fastify_scheduler_store_operation_duration_seconds_count', { operation: 'startRun' }) ?? 0) >= good.length + bad.length, 'every start was measured')
  t.ok((sampleValue(fa, 'fastify_scheduler_store_operation_duration_seconds_count', { operation: 'finishRun' }) ?? 0) >= good.length + bad.length, 'every final record was measured')
  t.equal(sampleValue(fa, 'fastify_scheduler_store_errors_total', { operation: 'startRun' }), undefined, 'no store error')

  // B ran nothing: no run counted here …
  t.equal(sampleValue(fb, 'fastify_scheduler_runs_total', { task: 'good', status: 'succeeded' }), undefined)
  t.equal(fb.get('fastify_scheduler_runs_total')?.samples.length, 0)
  // … but the cluster's gauges, read from the shared store, are the same on both.
  const lastGood = ticks.at(-1)!
  for (const [name, families] of [['a', fa], ['b', fb]] as const) {
    t.equal(sampleValue(families, 'fastify_scheduler_task_last_success_timestamp_seconds', { task: 'good' }), seconds(lastGood), `${name}: the cluster's last success`)
    t.equal(sampleValue(families, 'fastify_scheduler_task_last_success_timestamp_seconds', { task: 'bad' }), undefined, `${name}: bad never succeeded`)
    t.equal(sampleValue(families, 'fastify_scheduler_task_last_run_timestamp_seconds', { task: 'bad', status: 'failed' }), seconds(lastGood), `${name}: bad's last failure`)
    t.equal(sampleValue(families, 'fastify_scheduler_task_last_run_timestamp_seconds', { task: 'good', status: 'succeeded' }), seconds(lastGood))
    t.equal(sampleValue(families, 'fastify_scheduler_task_consecutive_failures', { task: 'bad' }), 3, `${name}: three failures in a row`)
    t.equal(sampleValue(families, 'fastify_scheduler_task_consecutive_failures', { task: 'good' }), 0)
    t.equal(sampleValue(families, 'fastify_scheduler_task_next_run_timestamp_seconds', { task: 'good' }), seconds(at('2026-05-11 10:04')), `${name}: next run`)
    const lastTick = sampleValue(families, 'fastify_scheduler_last_tick_timestamp_seconds')
    t.ok(lastTick !== undefined && lastTick >= seconds(ticks[0]!) && lastTick <= seconds(lastGood), `${name}: the cluster's last tick (${lastTick})`)
  }
})

t.test('an idle ping touches neither the store nor the metrics', async t => {
  let storeCalls = 0
  let heartbeats = 0
  let pending = 0
  const inner = memoryStore()
  const store = interceptStore(() => inner, async (method, call, args) => {
    storeCalls++
    pending++
    try {
      return await call(...args)
    } finally {
      pending--
      if (method === 'heartbeat') heartbeats++
    }
  })
  const clock = testClock(at('2026-05-11 10:00:20'))
  const app = await buildApp({
    tasks: [defineTask({ name: 'hourly', cron: '0 * * * *', handle () {} })],
    clock,
    store,
    routes: true,
    auth: { tokens: [TOKEN] }
  })
  t.teardown(() => app.close())
  const first = await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH })
  t.equal(first.statusCode, 200)
  // The first heartbeat runs in the background: wait until it has ended, by event-loop turns, not time.
  const beaten = (): boolean => heartbeats > 0 && pending === 0
  for (let turn = 0; turn < 10_000 && !beaten(); turn++) await new Promise(resolve => setImmediate(resolve))
  t.ok(beaten(), 'the first ping\'s background heartbeat ended')
  await scrape(app) // reads the cluster state (the scrape's own store calls)…
  const callsBefore = storeCalls
  const before = await scrape(app) // … which the next scrapes reuse for METRICS_CACHE_MS
  t.equal(storeCalls, callsBefore, 'a second scrape within the cache reads nothing')
  for (let i = 0; i < 20; i++) {
    const res = await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH })
    t.equal(res.statusCode, 200)
  }
  t.equal(storeCalls, callsBefore, 'no store call on idle pings')
  const after = await scrape(app)
  const count = (f: Map<string, PromFamily>): number => (f.get('fastify_scheduler_store_operation_duration_seconds')?.samples ?? [])
    .filter(s => s.name.endsWith('_count')).reduce((sum, s) => sum + s.value, 0)
  t.equal(count(after), count(before), 'the store histogram did not move')
})

t.test('auth: behind the token by default, open with { auth: false }, absent with false', async t => {
  const tasks = [defineTask({ name: 'x', runEveryMinute: true, handle () {} })]
  const closed = await buildApp({ tasks, routes: true, auth: { tokens: [TOKEN] } })
  t.teardown(() => closed.close())
  t.equal((await closed.inject({ method: 'GET', url: '/_schedule/metrics' })).statusCode, 401)
  t.equal((await closed.inject({ method: 'GET', url: '/_schedule/metrics', headers: AUTH })).statusCode, 200)

  const open = await buildApp({ tasks, routes: true, auth: { tokens: [TOKEN] }, metrics: { auth: false } })
  t.teardown(() => open.close())
  const res = await open.inject({ method: 'GET', url: '/_schedule/metrics' })
  t.equal(res.statusCode, 200, 'open for in-cluster scraping')
  t.ok(parsePromText(res.body).has('fastify_scheduler_runs_total'))
  t.equal((await open.inject({ method: 'GET', url: '/_schedule/' })).statusCode, 401, 'the listing still needs the token')

  const off = await buildApp({ tasks, routes: true, auth: { tokens: [TOKEN] }, metrics: false })
  t.teardown(() => off.close())
  t.equal((await off.inject({ method: 'GET', url: '/_schedule/metrics', headers: AUTH })).statusCode, 404)
})

t.test('the app\'s own registry carries the families next to its own', async t => {
  const registry = new Registry()
  registry.registerMetric(new (await import('prom-client')).Counter({ name: 'app_requests_total', help: 'the app\'s own', registers: [] }))
  const app = await buildApp({ tasks: [defineTask({ name: 'x', runEveryMinute: true, handle () {} })], routes: true, auth: { tokens: [TOKEN] }, metrics: { registry } })
  t.teardown(() => app.close())
  await (await app.scheduler.tick(at('2026-05-11 10:00:30'))).settled
  const families = parsePromText(await registry.metrics())
  t.ok(families.has('app_requests_total'))
  t.equal(sampleValue(families, 'fastify_scheduler_runs_total', { task: 'x', status: 'succeeded' }), 1)
  const served = await scrape(app)
  t.ok(served.has('app_requests_total'), 'the route serves the whole registry')
})

t.test('without routes: counted into the app\'s registry when given, not loaded otherwise', async t => {
  const registry = new Registry()
  const tasks = [defineTask({ name: 'x', runEveryMinute: true, handle () {} })]
  const withRegistry = await buildApp({ tasks, routes: false, metrics: { registry } })
  t.teardown(() => withRegistry.close())
  await (await withRegistry.scheduler.tick(at('2026-05-11 10:00:30'))).settled
  t.equal(sampleValue(parsePromText(await registry.metrics()), 'fastify_scheduler_runs_total', { task: 'x', status: 'succeeded' }), 1)
  const without = await buildApp({ tasks, routes: false })
  t.teardown(() => without.close())
  await (await without.scheduler.tick(at('2026-05-11 10:00:30'))).settled
  t.equal((await without.inject({ method: 'GET', url: '/_schedule/metrics' })).statusCode, 404)
})

t.test('coalesced occurrences: the hook counts what it is told', async t => {
  const registry = new Registry()
  const { observer } = createMetrics({ registry, cluster: async () => { throw new Error('not read') }, clock: Date.now, log: { warn () {} } as never })
  observer.coalesced('every-minute', 2)
  observer.coalesced('every-minute', 3)
  observer.coalesced('other', 0)
  const families = parsePromText(await registry.metrics())
  t.equal(families.get('fastify_scheduler_occurrences_coalesced_total')?.type, 'counter')
  t.equal(sampleValue(families, 'fastify_scheduler_occurrences_coalesced_total', { task: 'every-minute' }), 5)
  t.equal(sampleValue(families, 'fastify_scheduler_occurrences_coalesced_total', { task: 'other' }), undefined, 'zero adds no series')
  t.equal(families.get('fastify_scheduler_task_last_success_timestamp_seconds')?.samples.length, 0, 'a store that cannot be read leaves the gauges empty, the scrape answers')
})

t.test('store errors are counted by operation', async t => {
  const inner = memoryStore()
  let failing = false
  const store = interceptStore(() => inner, async (method, call, args) => {
    if (failing && method === 'startRun') throw new Error('store down')
    return await call(...args)
  })
  const app = await buildApp({ tasks: [defineTask({ name: 'x', runEveryMinute: true, handle () {} })], store, routes: true, auth: { tokens: [TOKEN] } })
  t.teardown(() => app.close())
  await (await app.scheduler.tick(at('2026-05-11 10:00:30'))).settled
  failing = true
  await t.rejects(app.scheduler.tick(at('2026-05-11 10:01:30')), { code: 'FST_SCHEDULER_STORE_UNAVAILABLE' })
  const families = await scrape(app)
  t.equal(sampleValue(families, 'fastify_scheduler_store_errors_total', { operation: 'startRun' }), 1)
  t.equal(sampleValue(families, 'fastify_scheduler_store_operation_duration_seconds_count', { operation: 'startRun' }), 2, 'failures are timed too')
})

t.test('the metrics option is validated, naming itself', async t => {
  await t.rejects(buildApp({ metrics: 'yes' as never }), { code: 'FST_SCHEDULER_INVALID_OPTION', message: /metrics: must be a boolean/ })
  await t.rejects(buildApp({ metrics: { auth: 'no' } as never }), { message: /metrics\.auth: must be a boolean/ })
  await t.rejects(buildApp({ metrics: { registry: {} } as never }), { message: /metrics\.registry: must be a prom-client Registry/ })
  await t.rejects(buildApp({ metrics: { scrape: true } as never }), { message: /metrics\.scrape: unknown key/ })
  await t.rejects(buildApp({ tracing: 'on' as never }), { message: /tracing/ })
})

t.test('an observer that throws never reaches the run', async t => {
  const { safeObserver } = await import('../../plugin/observe.js')
  const warned: string[] = []
  const boom = (): never => { throw new Error('registry broken') }
  const observer = safeObserver({ runStarted: boom, recorded: boom, coalesced: boom, storeCall: boom }, (err, what) => warned.push(`${what}: ${(err as Error).message}`))
  const watch = observer.runStarted({ task: 'x', runId: '1', scheduledFor: new Date(0), startedMs: 0, trigger: 'manual', forced: false, attempt: 1 })
  t.equal(watch.within(() => 42), 42, 'handle still runs')
  watch.end({ status: 'succeeded', durationMs: 1, thrown: undefined, leaseLost: undefined })
  observer.recorded('x', 'missed')
  observer.coalesced('x', 2)
  observer.storeCall('startRun', 0.001, false)
  t.same(warned, ['runStarted: registry broken', 'recorded: registry broken', 'coalesced: registry broken', 'storeCall: registry broken'])
})
