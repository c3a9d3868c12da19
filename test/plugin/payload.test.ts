/**
 * Run now with a payload (docs/PAYLOADS.md#payloads): the task's schema (TypeBox or plain JSON
 * Schema) is checked before anything runs; 400 names the field, 413 past maxPayloadSize; the
 * task reads ctx.payload; app.scheduler.run(name, { payload }) does the same.
 */
import t, { type Test } from 'tap'
import Fastify from 'fastify'
import Type from 'typebox'
import fastifyScheduler from '../../plugin.js'
import { memoryStore } from '../../plugin/stores/memory.js'
import { defineTask } from '../../tasks/task.js'
import { InvalidPayloadError, PayloadTooLargeError, InvalidOptionError, InvalidTaskError } from '../../core/errors.js'
import { AUTH, buildRoutesApp, countingTask } from '../routes/helpers.js'

/** What `promise` rejected with (fails the test when it resolved). */
async function rejection (t: Test, promise: PromiseLike<unknown>): Promise<Error> {
  const result = await Promise.resolve(promise).then(() => undefined, (err: unknown) => err as Error)
  t.ok(result !== undefined, 'rejects')
  return result ?? new Error('resolved')
}

const seen: Array<{ task: string, payload: unknown, trigger: string, forced: boolean }> = []

const refund = defineTask({
  name: 'refund',
  payload: Type.Object({ orderId: Type.String({ minLength: 1 }), amount: Type.Number({ minimum: 0 }) }, { additionalProperties: false }),
  handle ({ payload, trigger, forced }) {
    seen.push({ task: 'refund', payload, trigger, forced })
  }
})

const plain = defineTask({
  name: 'plain',
  runEveryHour: true,
  payload: { type: 'object', properties: { note: { type: 'string', maxLength: 5 } }, required: ['note'] },
  handle ({ payload, trigger, forced }) {
    seen.push({ task: 'plain', payload, trigger, forced })
  }
})

async function build (t: Test, extra: object = {}) {
  seen.length = 0
  const state = { runs: new Map<string, number>(), contexts: [] }
  const { app } = await buildRoutesApp({ plugin: { tasks: [refund, plain, countingTask('bare', state)], ...extra } })
  t.teardown(() => app.close())
  return app
}

t.test('POST /run { task, payload } forces one run that reads ctx.payload; history keeps the trigger', async t => {
  const app = await build(t)
  const res = await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH, payload: { task: 'refund', payload: { orderId: 'o-1', amount: 12.5 } } })
  t.equal(res.statusCode, 200, res.body)
  t.same(res.json().ran.map((o: { task: string }) => o.task), ['refund'])
  t.same(seen, [{ task: 'refund', payload: { orderId: 'o-1', amount: 12.5 }, trigger: 'http', forced: true }])

  const ui = await app.inject({ method: 'POST', url: '/_schedule/run', headers: { ...AUTH, 'x-fastify-scheduler': 'ui' }, payload: { task: 'plain', payload: { note: 'hi' } } })
  t.equal(ui.statusCode, 200, ui.body)
  t.same(seen[1], { task: 'plain', payload: { note: 'hi' }, trigger: 'ui', forced: true })

  const history = await app.inject({ method: 'GET', url: '/_schedule/runs', headers: AUTH })
  // Both started in the same (hand-held) millisecond: sorted by task for the comparison.
  t.same(history.json().runs.map((r: { task: string, trigger: string, payload: string | null }) => [r.task, r.trigger, r.payload]).sort(),
    [['plain', 'ui', '{"note":"hi"}'], ['refund', 'http', '{"orderId":"o-1","amount":12.5}']], 'the records keep payload and trigger')
})

t.test('the listing says which tasks accept a payload', async t => {
  const app = await build(t)
  const listing = await app.scheduler.list()
  t.same(listing.tasks.map(task => [task.name, task.acceptsPayload]), [['refund', true], ['plain', true], ['bare', false]])
})

t.test('a payload that does not match is 400 naming the task and field, and nothing runs', async t => {
  const app = await build(t)
  const cases: Array<[object, RegExp]> = [
    [{ task: 'refund', payload: { orderId: 'o-1', amount: 'ten' } }, /task "refund" \(options\.tasks\[0\]\): payload\.amount /],
    [{ task: 'refund', payload: { orderId: 'o-1' } }, /task "refund".*payload/],
    [{ task: 'plain', payload: { note: 'far too long' } }, /task "plain".*payload\.note /],
    [{ task: 'bare', payload: { x: 1 } }, /task "bare" \(options\.tasks\[2\]\) takes no payload/],
    [{ task: ['refund', 'plain'], payload: { note: 'x' } }, /payload: name exactly one task/],
    [{ payload: { note: 'x' } }, /payload: name exactly one task/]
  ]
  for (const [body, message] of cases) {
    const res = await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH, payload: body })
    t.equal(res.statusCode, 400, JSON.stringify(body))
    t.match(res.json().message, message)
    t.match(res.json().code, /^FST_SCHEDULER_INVALID_(PAYLOAD|INPUT)$/)
  }
  t.same(seen, [], 'nothing ran')
  const history = await app.scheduler.history()
  t.equal(history.total, 0, 'no record was written')
})

t.test('a payload over maxPayloadSize is 413 with a coded error; the option is validated', async t => {
  const app = await build(t, { maxPayloadSize: 64 })
  const res = await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH, payload: { task: 'refund', payload: { orderId: 'x'.repeat(100), amount: 1 } } })
  t.equal(res.statusCode, 413)
  t.equal(res.json().code, new PayloadTooLargeError('').code)
  t.match(res.json().message, /task "refund": the payload is \d+ bytes as JSON; maxPayloadSize is 64/)
  t.same(seen, [])
  const ok = await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH, payload: { task: 'refund', payload: { orderId: 'x', amount: 1 } } })
  t.equal(ok.statusCode, 200)

  for (const bad of [0, 1.5, 'big', 2_000_000]) {
    const app = Fastify()
    const err = await rejection(t, app.register(fastifyScheduler, { dir: false, store: memoryStore(), auth: false, maxPayloadSize: bad as number }).ready())
    t.ok(err instanceof InvalidOptionError, String(bad))
    t.match(err.message, /maxPayloadSize/)
    await app.close()
  }
})

t.test('app.scheduler.run(name, { payload }) checks, forces and passes it', async t => {
  const app = await build(t)
  const outcome = await app.scheduler.run('refund', { payload: { orderId: 'o-2', amount: 0 } })
  t.equal(outcome.status, 'succeeded')
  t.same(seen, [{ task: 'refund', payload: { orderId: 'o-2', amount: 0 }, trigger: 'api', forced: true }])
  const invalid = await rejection(t, app.scheduler.run('refund', { payload: { orderId: '', amount: 1 } }))
  t.ok(invalid instanceof InvalidPayloadError)
  t.match(invalid.message, /payload\.orderId/)
  t.ok(await rejection(t, app.scheduler.run('bare', { payload: 1 })) instanceof InvalidPayloadError)
  const scheduled = await app.scheduler.run('refund', { force: true })
  t.equal(scheduled.status, 'succeeded')
  t.equal(seen[1]!.payload, undefined, 'a run without a payload reads undefined')
})

t.test('a payload schema TypeBox cannot compile fails the boot naming the task', async t => {
  const app = Fastify()
  const broken = { name: 'broken', payload: 'not a schema', handle () {} }
  const err = await rejection(t, app.register(fastifyScheduler, { dir: false, store: memoryStore(), auth: false, tasks: [broken as never] }).ready())
  t.ok(err instanceof InvalidTaskError)
  t.match(err.message, /options\.tasks\[0\]: payload must be a JSON Schema/)
  await app.close()
})
