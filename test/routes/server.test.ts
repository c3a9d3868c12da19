/**
 * Over a real socket: 50 concurrent pings in one minute run each due task once, and the
 * answer that carried a failed run is a 500 (so `curl -f` fails).
 */
import t from 'tap'
import type { TaskContext } from '../../tasks/types.js'
import { AUTH, buildRoutesApp, countingTask, START } from './helpers.js'

const PINGS = 50

t.test('50 concurrent POST /_schedule/run in one minute run each due task once; a failure answers 500', async t => {
  const state = { runs: new Map<string, number>(), contexts: [] as TaskContext[] }
  const { app, clock } = await buildRoutesApp({
    plugin: { tasks: [countingTask('a', state), countingTask('b', state), countingTask('broken', state, { fail: true })] }
  })
  t.teardown(() => app.close())
  const base = await app.listen({ port: 0, host: '127.0.0.1' })

  // Pingers send all sorts of empty bodies.
  const headerSets: Array<Record<string, string>> = [
    AUTH, { ...AUTH, 'content-type': 'application/json' }, { ...AUTH, 'content-type': 'text/plain' },
    { ...AUTH, 'content-type': 'application/x-www-form-urlencoded' }
  ]
  const answers = await Promise.all(Array.from({ length: PINGS }, async (_, i) => {
    const res = await fetch(`${base}/_schedule/run`, { method: 'POST', headers: headerSets[i % headerSets.length] })
    return { status: res.status, body: await res.json() as { ran: Array<{ task: string }>, failed: Array<{ task: string, error: string }> } }
  }))
  t.same(Object.fromEntries(state.runs), { a: 1, b: 1, broken: 1 }, 'each due task ran exactly once')
  const failedAnswers = answers.filter(answer => answer.status === 500)
  t.equal(failedAnswers.length, 1, 'the ping that ran the failing task answers 500')
  t.match(failedAnswers[0].body.failed, [{ task: 'broken', error: 'broken broke' }])
  t.ok(answers.every(answer => answer.status === 200 || answer.status === 500), 'every other ping answers 200')
  const ranTasks = answers.flatMap(answer => answer.body.ran.map(o => o.task)).sort()
  t.same(ranTasks, ['a', 'b'])

  // The next minute, one ping: the failing run makes it a 500 again; HEAD runs nothing.
  clock.set(START + 60_000)
  const head = await fetch(`${base}/_schedule/run`, { method: 'HEAD', headers: AUTH })
  t.equal(head.status, 405)
  t.same(Object.fromEntries(state.runs), { a: 1, b: 1, broken: 1 })
  const res = await fetch(`${base}/_schedule/run?task=broken`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' } })
  t.equal(res.status, 500)
  t.equal(state.runs.get('broken'), 2)
  const unauthorised = await fetch(`${base}/_schedule/run?task=a&force=1`, { method: 'POST' })
  t.equal(unauthorised.status, 401)
  t.equal(unauthorised.headers.get('www-authenticate'), 'Bearer realm="fastify-scheduler"')
  t.equal(state.runs.get('a'), 1)
})
