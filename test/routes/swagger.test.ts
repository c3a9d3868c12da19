/** With @fastify/swagger registered, the OpenAPI document describes the four routes with their schemas. */
import t from 'tap'
import swagger from '@fastify/swagger'
import { buildRoutesApp } from './helpers.js'

interface Operation {
  parameters?: Array<{ name: string, in: string }>
  requestBody?: { content: Record<string, { schema: unknown }> }
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>
}

t.test('the OpenAPI document lists the four routes with input and output schemas', async t => {
  const { app } = await buildRoutesApp({
    plugin: { allowQueryToken: true },
    before: async app => { await app.register(swagger, { openapi: { info: { title: 'test', version: '1' } } }) }
  })
  t.teardown(() => app.close())
  const doc = app.swagger() as unknown as { paths: Record<string, Record<string, Operation>> }
  const paths = doc.paths
  t.same(Object.keys(paths).sort(), ['/_schedule/', '/_schedule/health', '/_schedule/run', '/_schedule/runs'])

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
