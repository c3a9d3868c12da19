/**
 * POST /_schedule/run through the real plugin: what runs, the answer body, and every status
 * code of docs/ARCHITECTURE.md#the-http-routes (200, 202, 400, 404, 413, 415, 500, 503; 401 is in auth-http.test.ts).
 */
import t from 'tap'
import { compileSerializer } from '../../routes/compilers.js'
import { TriggerAnswer } from '../../routes/schemas.js'
import { defineTask } from '../../tasks/task.js'
import type { TaskContext } from '../../tasks/types.js'
import { AUTH, buildRoutesApp, countingTask, flakyStore, holdingLoop, START, TOKEN } from './helpers.js'

const MINUTE = 60_000

function gate (): { open: () => void, opened: Promise<void> } {
  let open = (): void => {}
  const opened = new Promise<void>(resolve => { open = resolve })
  return { open, opened }
}

t.test('a ping runs each due task once and answers 200 with what ran', async t => {
  const { app, runs, clock } = await buildRoutesApp()
  t.teardown(() => app.close())
  const first = await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH })
  t.equal(first.statusCode, 200)
  const body = first.json()
  t.equal(body.status, 'ok')
  t.equal(body.now, new Date(START).toISOString())
  t.same(body.ran.map((o: { task: string }) => o.task).sort(), ['a', 'b'])
  t.same([body.failed, body.running, body.skipped], [[], [], []])
  t.match(body.ran[0], { status: 'succeeded', scheduledFor: '2026-05-12T17:00:00.000Z', runId: String })

  const again = await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH })
  t.equal(again.statusCode, 200, 'nothing due is 200')
  t.match(again.json(), { status: 'ok', summary: 'nothing was due', ran: [] })
  t.same(Object.fromEntries(runs), { a: 1, b: 1 })

  clock.set(START + MINUTE)
  await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH })
  t.same(Object.fromEntries(runs), { a: 2, b: 2 }, 'the next minute runs them again')
})

t.test('task names by query, JSON body or form; body wins over query', async t => {
  const { app, runs, clock } = await buildRoutesApp()
  t.teardown(() => app.close())
  const ping = async (minute: number, request: object): Promise<string[]> => {
    clock.set(START + minute * MINUTE)
    const res = await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH, ...request })
    t.equal(res.statusCode, 200, res.body)
    return res.json().ran.map((o: { task: string }) => o.task).sort()
  }
  t.same(await ping(0, { url: '/_schedule/run?task=a' }), ['a'])
  t.same(await ping(1, { url: '/_schedule/run?task=a,b' }), ['a', 'b'])
  t.same(await ping(2, { url: '/_schedule/run?task=b&task=a' }), ['a', 'b'])
  t.same(await ping(3, { payload: { task: 'b' } }), ['b'])
  t.same(await ping(4, { payload: { task: ['a', 'b'] } }), ['a', 'b'])
  t.same(await ping(5, { payload: 'task=a', headers: { ...AUTH, 'content-type': 'application/x-www-form-urlencoded' } }), ['a'])
  t.same(await ping(6, { url: '/_schedule/run?task=a', payload: { task: 'b' } }), ['b'], 'body wins')
  t.same(Object.fromEntries(runs), { a: 5, b: 5 })
})

t.test('force runs a task that is not due, as boolean, "true" or "1"; a manual task only runs forced', async t => {
  const state = { runs: new Map<string, number>(), contexts: [] as TaskContext[] }
  const { app } = await buildRoutesApp({
    plugin: { tasks: [countingTask('a', state), countingTask('manual', state, { runEveryMinute: false })] }
  })
  t.teardown(() => app.close())
  await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH })
  t.same(Object.fromEntries(state.runs), { a: 1 }, 'the manual task did not run')
  for (const request of [
    { url: '/_schedule/run?task=a&force=true' },
    { url: '/_schedule/run?task=a&force=1' },
    { url: '/_schedule/run', payload: { task: 'a', force: true } },
    { url: '/_schedule/run', payload: 'task=a&force=1', headers: { ...AUTH, 'content-type': 'application/x-www-form-urlencoded' } }
  ]) {
    const res = await app.inject({ method: 'POST', headers: AUTH, ...request })
    t.equal(res.statusCode, 200)
  }
  t.equal(state.runs.get('a'), 5, 'four forced runs in the same minute')
  const unforced = await app.inject({ method: 'POST', url: '/_schedule/run?task=a&force=false', headers: AUTH })
  t.same(unforced.json().ran, [], 'force=false does not run it again')
  const manual = await app.inject({ method: 'POST', url: '/_schedule/run?task=manual&force=true', headers: AUTH })
  t.same(manual.json().ran.map((o: { task: string }) => o.task), ['manual'])
})

t.test('the task sees the request without credentials', async t => {
  const { app, contexts } = await buildRoutesApp({ plugin: { allowQueryToken: true } })
  t.teardown(() => app.close())
  const res = await app.inject({
    method: 'POST',
    url: `/_schedule/run?task=a&token=${TOKEN}`,
    headers: { 'user-agent': 'pinger/1', cookie: 'sid=1' }
  })
  t.equal(res.statusCode, 200)
  t.equal(contexts.length, 1)
  const { request, trigger } = contexts[0]
  t.equal(trigger, 'http')
  t.match(request, { method: 'POST', url: '/_schedule/run?task=a', ip: '127.0.0.1', headers: { 'user-agent': 'pinger/1' } })
  t.notOk(JSON.stringify(request).includes(TOKEN))
  t.notOk(request !== undefined && 'cookie' in request.headers)
})

t.test('wait=false answers 202 at once; the run goes on', async t => {
  const slow = gate()
  let finished = false
  const { app } = await buildRoutesApp({
    plugin: { tasks: [defineTask({ name: 'slow', runEveryMinute: true, async handle () { await slow.opened; finished = true } })] }
  })
  t.teardown(() => app.close())
  for (const request of [{ url: '/_schedule/run?wait=false' }, { url: '/_schedule/run', payload: { wait: false } }]) {
    const res = await app.inject({ method: 'POST', headers: AUTH, ...request })
    t.equal(res.statusCode, 202)
    t.equal(finished, false)
  }
  slow.open()
})

t.test('runs still going at maxWait answer 202 with them under running', async t => {
  const slow = gate()
  const { app } = await buildRoutesApp({
    plugin: {
      maxWait: 5,
      tasks: [defineTask({ name: 'slow', runEveryMinute: true, async handle () { await slow.opened } })]
    }
  })
  t.teardown(() => app.close())
  const res = await holdingLoop(app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH }))
  t.equal(res.statusCode, 202)
  t.match(res.json(), { status: 'running', running: [{ task: 'slow', status: 'started' }], ran: [] })
  slow.open()
})

t.test('a failed or timed-out run answers 500 with its error; the other tasks still run', async t => {
  const state = { runs: new Map<string, number>(), contexts: [] as TaskContext[] }
  const { app, clock } = await buildRoutesApp({
    plugin: {
      tasks: [
        countingTask('a', state),
        countingTask('broken', state, { fail: true }),
        defineTask({
          name: 'stuck',
          runEveryMinute: true,
          timeout: 20,
          handle: ({ signal }) => new Promise((resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
        })
      ]
    }
  })
  t.teardown(() => app.close())
  const res = await app.inject({ method: 'POST', url: '/_schedule/run?task=a,broken', headers: AUTH })
  t.equal(res.statusCode, 500)
  t.match(res.json(), { status: 'failed', ran: [{ task: 'a' }], failed: [{ task: 'broken', status: 'failed', error: /broken broke/ }] })

  clock.set(START + MINUTE)
  const timedOut = await holdingLoop(app.inject({ method: 'POST', url: '/_schedule/run?task=stuck', headers: AUTH }))
  t.equal(timedOut.statusCode, 500)
  t.match(timedOut.json(), { failed: [{ task: 'stuck', status: 'timed_out' }] })
})

t.test('an unknown task name answers 404 and runs nothing', async t => {
  const { app, runs } = await buildRoutesApp()
  t.teardown(() => app.close())
  const res = await app.inject({ method: 'POST', url: '/_schedule/run?task=a,nope', headers: AUTH })
  t.equal(res.statusCode, 404)
  t.match(res.json(), { statusCode: 404, code: 'FST_SCHEDULER_UNKNOWN_TASK', message: /unknown task "nope"/ })
  t.equal(runs.size, 0)
})

t.test('a store that cannot be reached answers 503 with a clear message; it recovers by itself', async t => {
  const { store, setDown } = flakyStore()
  const { app, runs } = await buildRoutesApp({ plugin: { store } })
  t.teardown(() => app.close())
  setDown(true)
  const down = await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH })
  t.equal(down.statusCode, 503)
  t.match(down.json(), { code: 'FST_SCHEDULER_STORE_UNAVAILABLE', message: /store is unavailable, no task ran: connect ECONNREFUSED/ })
  t.equal(runs.size, 0)
  for (const url of ['/_schedule', '/_schedule/runs']) {
    const res = await app.inject({ method: 'GET', url, headers: AUTH })
    t.equal(res.statusCode, 503, `${url} too`)
  }
  setDown(false)
  const back = await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH })
  t.equal(back.statusCode, 200)
  t.same(Object.fromEntries(runs), { a: 1, b: 1 })
})

t.test('an empty body is accepted whatever its content type', async t => {
  const { app, clock } = await buildRoutesApp()
  t.teardown(() => app.close())
  const types = [
    undefined, 'application/json', 'application/json; charset=utf-8', 'text/plain',
    'application/x-www-form-urlencoded', 'application/octet-stream', 'multipart/form-data; boundary=x', 'application/xml'
  ]
  // A malformed type with a (blank) body is still refused with 415; with no body it means nothing.
  const malformed = ['invalid', '', ';']
  const cases = [
    ...types.flatMap(type => [{ type, payload: '' }, { type, payload: '  \n' }]),
    ...malformed.map(type => ({ type, payload: '' }))
  ]
  for (const [i, { type, payload }] of cases.entries()) {
    clock.set(START + i * MINUTE)
    const res = await app.inject({
      method: 'POST', url: '/_schedule/run', payload, headers: { ...AUTH, ...(type !== undefined ? { 'content-type': type } : {}) }
    })
    t.equal(res.statusCode, 200, `${type ?? 'no content type'}, ${JSON.stringify(payload)}`)
    t.equal(res.json().ran.length, 2)
  }
})

t.test('malformed input answers 400 naming the field', async t => {
  const { app, runs } = await buildRoutesApp()
  t.teardown(() => app.close())
  const json = { ...AUTH, 'content-type': 'application/json' }
  const cases: Array<[object, RegExp]> = [
    [{ payload: '{"task": ', headers: json }, /body is not valid JSON/],
    [{ payload: '[]', headers: json }, /body must be an object with the fields task, force, wait/],
    [{ payload: '"a"', headers: json }, /body must be an object/],
    [{ payload: { force: 'yes' } }, /body\.force is invalid: expected true or false/],
    [{ payload: { wait: 2 } }, /body\.wait is invalid/],
    [{ payload: { task: 5 } }, /body\.task is invalid: expected a task name/],
    [{ payload: { task: [] } }, /task names no task/],
    [{ payload: { tasks: 'a' } }, /body: unknown field "tasks" \(accepted: task, force, wait, payload\)/],
    [{ url: '/_schedule/run?task=' }, /query\.task is invalid/],
    [{ url: '/_schedule/run?task=,' }, /task names no task/],
    [{ url: '/_schedule/run?force=maybe' }, /query\.force is invalid/],
    [{ url: '/_schedule/run?force=1&force=0' }, /query\.force is invalid/],
    [{ url: '/_schedule/run?taks=a' }, /query: unknown field "taks"/],
    [{ payload: 'force=perhaps', headers: { ...AUTH, 'content-type': 'application/x-www-form-urlencoded' } }, /body\.force is invalid/]
  ]
  for (const [request, message] of cases) {
    const res = await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH, ...request })
    t.equal(res.statusCode, 400, JSON.stringify(request))
    t.match(res.json(), { statusCode: 400, error: 'Bad Request', message })
  }
  t.equal(runs.size, 0, 'nothing ran')
})

t.test('a non-empty body of another type answers 415; a huge one 413', async t => {
  const { app, runs } = await buildRoutesApp()
  t.teardown(() => app.close())
  const text = await app.inject({ method: 'POST', url: '/_schedule/run', payload: 'run please', headers: { ...AUTH, 'content-type': 'text/plain' } })
  t.equal(text.statusCode, 415)
  t.match(text.json().message, /text\/plain/)
  const huge = await app.inject({ method: 'POST', url: '/_schedule/run', payload: { task: 'a'.repeat(100_000) }, headers: AUTH })
  t.equal(huge.statusCode, 413)
  t.equal(runs.size, 0)
})

t.test('HEAD never runs tasks; GET /run is 405 unless allowGetTrigger', async t => {
  const { app, runs } = await buildRoutesApp()
  t.teardown(() => app.close())
  for (const url of ['/_schedule/run', '/_schedule', '/_schedule/runs', '/_schedule/health', '/_schedule/run?task=a&force=1']) {
    const res = await app.inject({ method: 'HEAD', url, headers: AUTH })
    t.not(res.statusCode, 500, `HEAD ${url}`)
  }
  const head = await app.inject({ method: 'HEAD', url: '/_schedule/run', headers: AUTH })
  t.equal(head.statusCode, 405)
  t.equal(head.headers.allow, 'POST')
  const get = await app.inject({ method: 'GET', url: '/_schedule/run', headers: AUTH })
  t.equal(get.statusCode, 405)
  t.match(get.json().message, /allowGetTrigger/)
  t.equal(runs.size, 0, 'nothing ran')
})

t.test('allowGetTrigger adds GET /run with the same semantics; HEAD still runs nothing', async t => {
  const { app, runs } = await buildRoutesApp({ plugin: { allowGetTrigger: true } })
  t.teardown(() => app.close())
  const head = await app.inject({ method: 'HEAD', url: '/_schedule/run', headers: AUTH })
  t.equal(head.statusCode, 405)
  t.equal(head.headers.allow, 'POST, GET')
  t.equal(runs.size, 0)
  const res = await app.inject({ method: 'GET', url: '/_schedule/run?task=a', headers: AUTH })
  t.equal(res.statusCode, 200)
  t.same(Object.fromEntries(runs), { a: 1 })
  const unknown = await app.inject({ method: 'GET', url: '/_schedule/run?task=zzz', headers: AUTH })
  t.equal(unknown.statusCode, 404)
})

t.test('answers are never cached; other paths under the prefix answer a JSON 404', async t => {
  const { app } = await buildRoutesApp()
  t.teardown(() => app.close())
  const res = await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH })
  t.equal(res.headers['cache-control'], 'no-store')
  const missing = await app.inject({ method: 'GET', url: '/_schedule/nope?x=1', headers: AUTH })
  t.equal(missing.statusCode, 404)
  t.match(missing.json(), { code: 'FST_SCHEDULER_NOT_FOUND', message: 'no route GET /_schedule/nope' })
  const put = await app.inject({ method: 'PUT', url: '/_schedule/run', headers: AUTH })
  t.equal(put.statusCode, 404)
})

t.test('a tick that ran something is logged at info; an idle ping adds no line of its own at info', async t => {
  const { app, logs } = await buildRoutesApp({ captureLogs: true })
  t.teardown(() => app.close())
  const answered = (): string[] => logs.filter(line => line.includes('tick answered'))
  await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH })
  t.equal(answered().length, 1, 'the tick that ran a and b')
  t.match(answered()[0], /"level":30.*"summary":"2 ran, 0 failed, 0 running, 0 skipped"/)
  await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH })
  t.equal(answered().length, 1, 'nothing was due: no info line')
})

t.test('the idle answer, written ahead of time, is what the answer schema serializes', async t => {
  const { app } = await buildRoutesApp()
  t.teardown(() => app.close())
  const serialize = compileSerializer(TriggerAnswer)
  await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH })
  for (const [url, status] of [['/_schedule/run', 200], ['/_schedule/run?wait=false', 202]] as const) {
    const res = await app.inject({ method: 'POST', url, headers: AUTH })
    t.equal(res.statusCode, status, url)
    t.match(res.json(), { now: new Date(START).toISOString(), status: 'ok', summary: 'nothing was due', ran: [], skipped: [] })
    t.equal(res.body, serialize(res.json()))
    t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  }
})

t.test('an idle plain ping takes the fast path and still counts as a tick', async t => {
  const { app, clock, runs } = await buildRoutesApp()
  t.teardown(() => app.close())
  // The plugin's scheduler has it; app.scheduler's public type does not.
  const scheduler = app.scheduler as typeof app.scheduler & { idleTick: () => string | undefined }
  await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH })
  t.same(Object.fromEntries(runs), { a: 1, b: 1 }, 'the first ping ran the due tasks (not idle)')
  clock.set(START + 20_000)
  t.equal(scheduler.idleTick(), new Date(START + 20_000).toISOString(), 'nothing due: the tick\'s now')
  clock.set(START + 30_000)
  const idle = await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH })
  t.equal(idle.statusCode, 200)
  t.equal(idle.json().now, new Date(START + 30_000).toISOString())
  t.same(app.scheduler.lastTickAt, new Date(START + 30_000), 'the idle ping is recorded as the last tick')
  clock.set(START + MINUTE)
  t.equal(scheduler.idleTick(), undefined, 'something due: no fast path, nothing changed')
  t.same(app.scheduler.lastTickAt, new Date(START + 30_000), 'idleTick left the last tick alone')
  const due = await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH })
  t.match(due.json(), { summary: '2 ran, 0 failed, 0 running, 0 skipped' }, 'the trigger fell back to tick()')
  const forced = await app.inject({ method: 'POST', url: '/_schedule/run?task=a&force=true', headers: AUTH })
  t.match(forced.json(), { summary: '1 ran, 0 failed, 0 running, 0 skipped' }, 'a forced ping never takes the idle path')
  await app.close()
  t.equal(scheduler.idleTick(), undefined, 'closed: no fast path (tick() reports the closed scheduler)')
})
