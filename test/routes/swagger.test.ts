/** With @fastify/swagger registered, the OpenAPI document describes the four routes with their schemas. */
import t from 'tap'
import swagger from '@fastify/swagger'
import { readFileSync, writeFileSync } from 'node:fs'
import { buildRoutesApp } from './helpers.js'

const OPENAPI_FIXTURE = new URL('../fixtures/openapi.json', import.meta.url)

interface Operation {
  parameters?: Array<{ name: string, in: string }>
  requestBody?: { content: Record<string, { schema: unknown }> }
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>
}

t.test('the OpenAPI document lists the routes with input and output schemas', async t => {
  const { app } = await buildRoutesApp({
    plugin: { allowQueryToken: true },
    before: async app => { await app.register(swagger, { openapi: { info: { title: 'test', version: '1' } } }) }
  })
  t.teardown(() => app.close())
  const doc = app.swagger() as unknown as { paths: Record<string, Record<string, Operation>> }
  const paths = doc.paths
  t.same(Object.keys(paths).sort(), ['/_schedule/', '/_schedule/health', '/_schedule/metrics', '/_schedule/pause', '/_schedule/resume', '/_schedule/run', '/_schedule/runs', '/_schedule/tasks/{name}/backfill', '/_schedule/tasks/{name}/pause', '/_schedule/tasks/{name}/resume'])
  t.same(Object.keys(paths['/_schedule/metrics'].get.responses).sort(), ['200', '401', '500'])
  t.ok(paths['/_schedule/metrics'].get.responses['200'].content?.['text/plain'], 'metrics are text/plain')

  const run = paths['/_schedule/run'].post
  t.same(Object.keys(paths['/_schedule/run']), ['post'], 'the 405 helpers are hidden')
  t.same(Object.keys(run.responses).sort(), ['200', '202', '400', '401', '404', '413', '415', '500', '503'])
  t.same(run.parameters?.map(p => p.name).sort(), ['force', 'task', 'token', 'wait'])
  t.match(run.requestBody?.content['application/json'].schema, { properties: { task: {}, force: {}, wait: {} } })
  t.match(run.responses['200'].content?.['application/json'].schema, {
    properties: { now: {}, status: { enum: ['ok', 'running', 'failed'] }, ran: { type: 'array' }, failed: {}, running: {}, skipped: {} }
  })

  const listing = paths['/_schedule/'].get
  t.same(Object.keys(listing.responses).sort(), ['200', '400', '401', '500', '503'])
  t.match(listing.responses['200'].content?.['application/json'].schema, {
    properties: { now: {}, store: {}, lastTick: {}, tasks: { items: { properties: { name: {}, schedule: {}, nextRun: {}, lastRun: {} } } } }
  })

  const history = paths['/_schedule/runs'].get
  t.same(history.parameters?.map(p => p.name).sort(), ['limit', 'offset', 'status', 'task', 'token'])
  t.match(history.responses['200'].content?.['application/json'].schema, { properties: { runs: {}, total: {}, limit: {}, offset: {} } })

  const health = paths['/_schedule/health'].get
  t.same(Object.keys(health.responses).sort(), ['200', '500', '503'])
  t.match(health.responses['503'].content?.['application/json'].schema, { properties: { status: { enum: ['ok', 'stale', 'no tick yet'] } } })
})

/**
 * The whole OpenAPI document, deep-equal and in the same key order as a committed copy: a refactor that moves a
 * schema or derives a type from it must leave every HTTP shape as it was. After a deliberate
 * change to an HTTP shape, regenerate the copy with `UPDATE_OPENAPI=1 npx tap test/routes/swagger.test.ts`.
 */
t.test('the OpenAPI document is the committed one (HTTP shapes unchanged)', async t => {
  const { app } = await buildRoutesApp({
    plugin: { allowQueryToken: true },
    before: async app => { await app.register(swagger, { openapi: { info: { title: 'test', version: '1' } } }) }
  })
  t.teardown(() => app.close())
  const text = JSON.stringify(app.swagger(), null, 2) + '\n'
  if (process.env.UPDATE_OPENAPI === '1') writeFileSync(OPENAPI_FIXTURE, text)
  const committed = readFileSync(OPENAPI_FIXTURE, 'utf8')
  t.strictSame(JSON.parse(text), JSON.parse(committed), 'the same document')
  t.equal(text, committed, 'with its keys in the same order (the order responses are written in)')
})
