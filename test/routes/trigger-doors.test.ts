/**
 * Which door started a run (docs/PAYLOADS.md#triggers): the trigger route records `http`, the
 * dashboard's header `ui` (behind the same auth), `app.scheduler` calls `api`; history shows it.
 */
import t from 'tap'
import { AUTH, buildRoutesApp, START } from './helpers.js'

const MINUTE = 60_000

t.test('http, ui and api doors are recorded on the run and shown by history', async t => {
  const { app, contexts, clock } = await buildRoutesApp()
  t.teardown(() => app.close())
  const http = await app.inject({ method: 'POST', url: '/_schedule/run?task=a', headers: AUTH })
  t.equal(http.statusCode, 200, http.body)
  clock.set(START + MINUTE)
  const ui = await app.inject({ method: 'POST', url: '/_schedule/run', headers: { ...AUTH, 'x-fastify-scheduler': 'ui' }, payload: { task: 'b', force: true } })
  t.equal(ui.statusCode, 200, ui.body)
  clock.set(START + 2 * MINUTE) // history orders by start time: ties would fall to the random run id
  await app.scheduler.run('a', { force: true })
  t.same(contexts.map(ctx => [ctx.task, ctx.trigger]), [['a', 'http'], ['b', 'ui'], ['a', 'api']])

  const history = await app.inject({ method: 'GET', url: '/_schedule/runs', headers: AUTH })
  t.same(history.json().runs.map((r: { task: string, trigger: string }) => [r.task, r.trigger]), [['a', 'api'], ['b', 'ui'], ['a', 'http']])
  const listing = await app.inject({ method: 'GET', url: '/_schedule?recent=5', headers: AUTH })
  const tasks = listing.json().tasks as Array<{ name: string, lastRun: { trigger: string }, recent: Array<{ trigger: string }> }>
  t.same(tasks.map(task => [task.name, task.lastRun.trigger, task.recent.map(r => r.trigger)]), [['a', 'api', ['api', 'http']], ['b', 'ui', ['ui']]])
})

t.test('the ui header does not pass auth by itself', async t => {
  const { app, runs } = await buildRoutesApp()
  t.teardown(() => app.close())
  const res = await app.inject({ method: 'POST', url: '/_schedule/run', headers: { 'x-fastify-scheduler': 'ui' } })
  t.equal(res.statusCode, 401)
  t.equal(runs.size, 0)
})

t.test('a plain ping with the ui header but nothing due stays idle', async t => {
  const { app, clock } = await buildRoutesApp()
  t.teardown(() => app.close())
  await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH })
  clock.set(START + 1000)
  const res = await app.inject({ method: 'POST', url: '/_schedule/run', headers: { ...AUTH, 'x-fastify-scheduler': 'ui' } })
  t.match(res.json(), { summary: 'nothing was due' })
})
