/** GET /_schedule (listing), GET /_schedule/runs (history) and GET /_schedule/health. */
import t from 'tap'
import type { TaskContext } from '../../tasks/types.js'
import { AUTH, buildRoutesApp, countingTask, START } from './helpers.js'

const MINUTE = 60_000

t.test('the listing names every task with its schedule, next and last run', async t => {
  const { app } = await buildRoutesApp()
  t.teardown(() => app.close())
  const before = await app.inject({ method: 'GET', url: '/_schedule', headers: AUTH })
  t.equal(before.statusCode, 200)
  t.match(before.json(), {
    now: '2026-05-12T17:00:00.000Z',
    store: { kind: 'memory', durable: false },
    lastTick: null,
    tasks: [
      { name: 'a', schedule: /every minute/, cron: '* * * * *', timezone: 'UTC', enabled: true, manual: false, nextRun: '2026-05-12T17:01:00.000Z', lastRun: null, runningNow: false, source: 'options.tasks[0]' },
      { name: 'b' }
    ]
  })
  await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH })
  const after = (await app.inject({ method: 'GET', url: '/_schedule/', headers: AUTH })).json()
  t.equal(after.lastTick, '2026-05-12T17:00:00.000Z')
  t.match(after.tasks[0].lastRun, { status: 'succeeded', startedAt: '2026-05-12T17:00:00.000Z', finishedAt: String, durationMs: Number })
  const wrongQuery = await app.inject({ method: 'GET', url: '/_schedule?verbose=1', headers: AUTH })
  t.equal(wrongQuery.statusCode, 400)
  t.match(wrongQuery.json().message, /unknown field "verbose"/)
})

t.test('the history is newest first, filtered by task and status, paginated, with ISO dates', async t => {
  const state = { runs: new Map<string, number>(), contexts: [] as TaskContext[] }
  const { app, clock } = await buildRoutesApp({
    plugin: { tasks: [countingTask('a', state), countingTask('broken', state, { fail: true })] }
  })
  t.teardown(() => app.close())
  for (let minute = 0; minute < 3; minute++) {
    clock.set(START + minute * MINUTE)
    await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH })
  }
  const get = async (query: string): Promise<{ statusCode: number, body: any }> => {
    const res = await app.inject({ method: 'GET', url: `/_schedule/runs${query}`, headers: AUTH })
    return { statusCode: res.statusCode, body: res.json() }
  }
  const all = await get('')
  t.equal(all.statusCode, 200)
  t.match(all.body, { total: 6, limit: 50, offset: 0 })
  t.equal(all.body.runs.length, 6)
  const started = all.body.runs.map((run: { startedAt: string }) => run.startedAt)
  t.same(started, [...started].sort().reverse(), 'newest first')
  t.match(all.body.runs.find((run: { task: string }) => run.task === 'broken'), {
    id: String,
    trigger: 'http',
    status: 'failed',
    error: 'broken broke',
    stack: /Error: broken broke/,
    scheduledFor: /^2026-05-12T17:0\d:00\.000Z$/,
    finishedAt: String,
    durationMs: Number
  })

  t.match((await get('?task=a')).body, { total: 3, runs: [{ task: 'a' }, { task: 'a' }, { task: 'a' }] })
  t.equal((await get('?task=a,broken')).body.total, 6)
  t.equal((await get('?task=a&task=broken')).body.total, 6)
  t.equal((await get('?status=failed')).body.total, 3)
  t.equal((await get('?status=failed,succeeded')).body.total, 6)
  t.equal((await get('?status=running&status=missed')).body.total, 0)
  t.equal((await get('?task=gone')).body.total, 0, 'a task no longer registered is just an empty filter')
  const page = await get('?limit=2&offset=1')
  t.match(page.body, { total: 6, limit: 2, offset: 1 })
  t.same(page.body.runs.map((run: { id: string }) => run.id), all.body.runs.slice(1, 3).map((run: { id: string }) => run.id))

  for (const [query, message] of [
    ['?status=exploded', /query\.status is invalid: expected one or more of running, succeeded/],
    ['?status=failed,nope', /query\.status/],
    ['?limit=0', /query\.limit is invalid: expected an integer from 1 to 500/],
    ['?limit=501', /query\.limit/],
    ['?limit=ten', /query\.limit/],
    ['?offset=-1', /query\.offset/],
    ['?page=2', /unknown field "page"/]
  ] as const) {
    const res = await get(query)
    t.equal(res.statusCode, 400, query)
    t.match(res.body.message, message)
  }
})

t.test('health: 503 before any tick, 200 while ticks arrive within expectTickEvery, 503 when stale', async t => {
  const { app, clock } = await buildRoutesApp({ plugin: { expectTickEvery: '3 minutes' } })
  t.teardown(() => app.close())
  const health = async (): Promise<{ statusCode: number, body: string }> => {
    const res = await app.inject({ method: 'GET', url: '/_schedule/health' })
    return { statusCode: res.statusCode, body: res.body }
  }
  const first = await health()
  t.equal(first.statusCode, 503)
  t.same(JSON.parse(first.body), { status: 'no tick yet', lastTick: null, reason: 'no tick has reached any replica yet (expected every 180 s)', paused: 0, tasks: { failing: 0, overdue: 0 } })

  await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH })
  t.same(JSON.parse((await health()).body), {
    status: 'ok', lastTick: '2026-05-12T17:00:00.000Z', reason: 'last tick 2026-05-12T17:00:00.000Z; 0 tasks failing, 0 overdue', paused: 0, tasks: { failing: 0, overdue: 0 }
  })
  clock.set(START + 3 * MINUTE)
  t.equal((await health()).statusCode, 200, 'exactly expectTickEvery later is still fresh')
  clock.set(START + 3 * MINUTE + 1)
  const stale = await health()
  t.equal(stale.statusCode, 503)
  t.same(JSON.parse(stale.body), { status: 'stale', lastTick: '2026-05-12T17:00:00.000Z', reason: 'no tick since 2026-05-12T17:00:00.000Z (expected every 180 s)', paused: 0, tasks: { failing: 0, overdue: 0 } })
  t.notMatch(stale.body, /"a"|"b"/, 'reveals no task names')

  const viaApi = await app.scheduler.tick()
  t.ok(viaApi, 'a tick from anywhere (CLI, work, tests) counts')
  t.equal((await health()).statusCode, 200)
})

t.test('health counts failing and overdue tasks (counts only); failingTasksUnhealthy turns a failing task into 503', async t => {
  for (const failingTasksUnhealthy of [false, true]) {
    const state = { runs: new Map<string, number>(), contexts: [] as TaskContext[] }
    const { app, clock } = await buildRoutesApp({
      plugin: { failingTasksUnhealthy, expectTickEvery: '3 minutes', tasks: [countingTask('fine', state), countingTask('broken', state, { fail: true })] }
    })
    const health = async () => {
      const res = await app.inject({ method: 'GET', url: '/_schedule/health' })
      return { statusCode: res.statusCode, body: res.json(), text: res.body }
    }
    await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH })
    const failing = await health()
    t.same(failing.body.tasks, { failing: 1, overdue: 0 }, 'one task failing')
    t.notMatch(failing.text, /fine|broken/, 'no task named')
    if (failingTasksUnhealthy) {
      t.equal(failing.statusCode, 503, 'failingTasksUnhealthy: 503')
      t.same(failing.body.status, 'failing')
      t.match(failing.body.reason, /^1 task failing, 0 overdue \(failingTasksUnhealthy is on\)/)
    } else {
      t.equal(failing.statusCode, 200, 'by default a failing task leaves health 200')
      t.match(failing.body.reason, /1 task failing, 0 overdue$/)
    }
    // No tick for 4 minutes: both tasks owe the 17:01 occurrence, older than expectTickEvery.
    clock.set(START + 4 * MINUTE + 1)
    const stale = await health()
    t.equal(stale.statusCode, 503)
    t.same(stale.body.tasks, { failing: 1, overdue: 2 }, 'both overdue, one still failing')
    await app.close()
  }
})

t.test('the listing reports the configured retries and, by default, the 5 newest runs — the one that just finished included', async t => {
  const state = { runs: new Map<string, number>(), contexts: [] as TaskContext[] }
  const { app, clock } = await buildRoutesApp({
    plugin: { tasks: [countingTask('plain', state), { ...countingTask('retried', state), retries: { attempts: 3, delay: '1 minute' } }] }
  })
  t.teardown(() => app.close())
  const listing = async () => (await app.inject({ method: 'GET', url: '/_schedule', headers: AUTH })).json()
  const before = await listing()
  t.same(before.tasks.map((task: { name: string, retries: number }) => [task.name, task.retries]), [['plain', 0], ['retried', 2]],
    'no retries: 0 (not 1); attempts 3: 2 retries')
  t.same(before.tasks[0].recent, [])
  await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH })
  const after = await listing()
  t.equal(after.tasks[0].recent.length, 1, 'the run that just finished is listed')
  t.match(after.tasks[0].recent[0], { status: 'succeeded', startedAt: '2026-05-12T17:00:00.000Z', covers: null, output: null })
  for (let minute = 1; minute <= 6; minute++) {
    clock.set(START + minute * MINUTE)
    await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH })
  }
  const many = await listing()
  t.equal(many.tasks[0].recent.length, 5, 'five by default')
  t.equal(many.tasks[0].recent[0].startedAt, '2026-05-12T17:06:00.000Z', 'newest first')
})
