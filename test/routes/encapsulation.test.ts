/**
 * The routes are an encapsulated plugin: the app's compilers, error handler, body parsers
 * and 404 handler do not change them, and theirs do not leak into the app.
 */
import t from 'tap'
import { AUTH, buildRoutesApp } from './helpers.js'

t.test('an app with foreign schema compilers and its own handlers still gets working routes', async t => {
  const { app, runs } = await buildRoutesApp({
    before: async app => {
      // As a Zod type provider would: compilers that cannot read JSON Schema.
      app.setValidatorCompiler(() => () => { throw new Error('not a zod schema') })
      app.setSerializerCompiler(() => () => { throw new Error('not a zod schema') })
      app.setErrorHandler(async (_err, _request, reply) => reply.code(418).type('text/html').send('<h1>oops</h1>'))
      app.setNotFoundHandler(async (_request, reply) => reply.code(404).type('text/html').send('<h1>lost</h1>'))
      app.post('/app/echo', async request => ({ body: request.body ?? null }))
    }
  })
  t.teardown(() => app.close())

  const run = await app.inject({ method: 'POST', url: '/_schedule/run', headers: { ...AUTH, 'content-type': 'application/json' } })
  t.equal(run.statusCode, 200)
  t.same(Object.fromEntries(runs), { a: 1, b: 1 })
  const bad = await app.inject({ method: 'POST', url: '/_schedule/run?force=maybe', headers: AUTH })
  t.equal(bad.statusCode, 400, 'our errors stay JSON')
  t.equal(bad.json().code, 'FST_SCHEDULER_INVALID_INPUT')
  const listing = await app.inject({ method: 'GET', url: '/_schedule', headers: AUTH })
  t.equal(listing.statusCode, 200)
  t.equal(listing.json().tasks.length, 2)
  const missing = await app.inject({ method: 'GET', url: '/_schedule/nope', headers: AUTH })
  t.equal(missing.json().code, 'FST_SCHEDULER_NOT_FOUND', 'our 404 under the prefix')

  const appMissing = await app.inject({ method: 'GET', url: '/elsewhere' })
  t.equal(appMissing.body, '<h1>lost</h1>', "the app's 404 elsewhere")
  const emptyJson = await app.inject({ method: 'POST', url: '/app/echo', headers: { 'content-type': 'application/json' }, payload: '' })
  t.equal(emptyJson.statusCode, 418, "the app's routes keep Fastify's strict JSON parser and the app's error handler")
  const appRoute = await app.inject({ method: 'POST', url: '/app/echo', payload: { x: 1 } })
  t.same(appRoute.json(), { body: { x: 1 } })
  const noStore = await app.inject({ method: 'POST', url: '/app/echo', payload: { x: 1 } })
  t.equal(noStore.headers['cache-control'], undefined, 'no-store is set on our routes only')
})

t.test('answers carry only the fields their schema declares', async t => {
  const { app } = await buildRoutesApp()
  t.teardown(() => app.close())
  const original = app.scheduler.list.bind(app.scheduler)
  app.scheduler.list = async now => ({ ...(await original(now)), internal: 'do not show' } as never)
  const res = await app.inject({ method: 'GET', url: '/_schedule', headers: AUTH })
  t.equal(res.statusCode, 200)
  t.notOk('internal' in res.json())
})
