/**
 * The backfill route (docs/PAYLOADS.md#backfills) through inject: the listing's auth, 202
 * with the backfill, refused ranges (400 naming why), 404 naming an unknown task, and the
 * ticks that run it.
 */
import t from 'tap'
import { AUTH, buildRoutesApp, START } from './helpers.js'

const MINUTE = 60_000
const iso = (ms: number) => new Date(ms).toISOString()

t.test('POST /tasks/:name/backfill: 202, the listing shows it, the pings run it oldest first', async t => {
  const { app, clock, contexts } = await buildRoutesApp({ plugin: { maxBackfill: 5 } })
  t.teardown(() => app.close())
  const post = (url: string, payload?: object, headers: Record<string, string> = AUTH) =>
    app.inject({ method: 'POST', url, headers, ...(payload !== undefined ? { payload } : {}) })
  const range = { from: iso(START - 10 * MINUTE), to: iso(START - 6 * MINUTE) }

  t.equal((await post('/_schedule/tasks/a/backfill', range, {})).statusCode, 401, 'the listing\'s auth')
  const accepted = await post('/_schedule/tasks/a/backfill', range)
  t.equal(accepted.statusCode, 202)
  t.match(accepted.json(), { task: 'a', occurrences: 5, done: 0, skipped: 0, next: range.from, created: true })
  const again = await post('/_schedule/tasks/a/backfill', range)
  t.same([again.statusCode, again.json().id, again.json().created], [202, accepted.json().id, false], 'sent twice: one backfill')

  const listing = (await app.inject({ method: 'GET', url: '/_schedule', headers: AUTH })).json()
  t.match(listing.tasks.find((x: { name: string }) => x.name === 'a').backfills, [{ id: accepted.json().id, occurrences: 5 }])
  t.same(listing.tasks.find((x: { name: string }) => x.name === 'b').backfills, [])

  for (let i = 0; i < 7; i++) {
    clock.set(START + i * MINUTE + 1000)
    await post('/_schedule/run?wait=true')
  }
  const backfilled = contexts.filter(c => c.trigger === 'backfill').map(c => c.scheduledFor.toISOString())
  t.same(backfilled, [0, 1, 2, 3, 4].map(i => iso(START - (10 - i) * MINUTE)), 'each occurrence once, oldest first')
  const after = (await app.inject({ method: 'GET', url: '/_schedule', headers: AUTH })).json()
  t.same(after.tasks.find((x: { name: string }) => x.name === 'a').backfills, [], 'finished')
})

t.test('refused backfills: 400 naming why, 404 for an unknown task; nothing stored', async t => {
  const { app } = await buildRoutesApp({ plugin: { maxBackfill: 5 } })
  t.teardown(() => app.close())
  const post = (url: string, payload: object) => app.inject({ method: 'POST', url, headers: AUTH, payload })
  const cases: Array<[object, RegExp]> = [
    [{ from: iso(START - MINUTE), to: iso(START - 2 * MINUTE) }, /from .* is after to/],
    [{ from: iso(START - MINUTE), to: iso(START + 5 * MINUTE) }, /ends in the future/],
    [{ from: iso(START - 60 * MINUTE), to: iso(START - MINUTE) }, /60 occurrences of task "a"; maxBackfill is 5/],
    [{ from: 'yesterday', to: iso(START - MINUTE) }, /from/],
    [{ to: iso(START - MINUTE) }, /from/]
  ]
  for (const [body, message] of cases) {
    const res = await post('/_schedule/tasks/a/backfill', body)
    t.equal(res.statusCode, 400, JSON.stringify(body))
    t.match(res.json(), { code: 'FST_SCHEDULER_INVALID_INPUT', message })
  }
  const unknown = await post('/_schedule/tasks/nope/backfill', { from: iso(START - 2 * MINUTE), to: iso(START - MINUTE) })
  t.equal(unknown.statusCode, 404)
  t.match(unknown.json().message, /nope/)
  const listing = (await app.inject({ method: 'GET', url: '/_schedule', headers: AUTH })).json()
  t.ok(listing.tasks.every((x: { backfills: unknown[] }) => x.backfills.length === 0), 'nothing stored')
})
