/**
 * The pause routes (docs/PAUSE.md) through inject: the listing's auth, 404 naming an
 * unknown task, bodies validated, and what the listing and health show afterwards.
 */
import t from 'tap'
import { AUTH, buildRoutesApp, START } from './helpers.js'

const MINUTE = 60_000

t.test('pause and resume one task over HTTP; the listing shows the pause, health counts it', async t => {
  const { app, clock, runs } = await buildRoutesApp()
  t.teardown(() => app.close())
  const post = (url: string, payload?: object) => app.inject({ method: 'POST', url, headers: AUTH, ...(payload !== undefined ? { payload } : {}) })

  const paused = await post('/_schedule/tasks/a/pause', { reason: 'partner API down', by: 'ops' })
  t.equal(paused.statusCode, 200)
  t.same(paused.json(), { task: 'a', paused: { since: new Date(START).toISOString(), reason: 'partner API down', by: 'ops', all: false } })

  const tick = await post('/_schedule/run')
  t.match(tick.json().skipped, [{ task: 'a', status: 'skipped', reason: 'paused' }], 'the trigger says a was paused')
  t.equal(runs.get('a'), undefined, 'a did not run')
  t.equal(runs.get('b'), 1, 'b ran')

  const listing = (await app.inject({ method: 'GET', url: '/_schedule', headers: AUTH })).json()
  t.match(listing.tasks.find((x: { name: string }) => x.name === 'a').paused, { reason: 'partner API down', by: 'ops', all: false })
  t.equal(listing.tasks.find((x: { name: string }) => x.name === 'b').paused, null)
  const health = await app.inject({ method: 'GET', url: '/_schedule/health' })
  t.equal(health.statusCode, 200, 'a pause is not a fault')
  t.equal(health.json().paused, 1, 'health counts the paused task')
  t.notMatch(health.body, /"a"|partner/, 'and names none')

  clock.set(START + 2 * MINUTE + 5000)
  const resumed = await post('/_schedule/tasks/a/resume', {})
  t.equal(resumed.statusCode, 200)
  t.match(resumed.json(), { task: 'a', resumed: true, skipped: [{ task: 'a', occurrences: 3 }], runs: [] })
  await post('/_schedule/run')
  t.equal(runs.get('a'), undefined, 'the held-back occurrences are skipped')
  t.end()
})

t.test('pause everything and resume it with catchUp over HTTP (form body accepted)', async t => {
  const { app, clock, runs } = await buildRoutesApp()
  t.teardown(() => app.close())
  const all = await app.inject({ method: 'POST', url: '/_schedule/pause', headers: { ...AUTH, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'reason=migration' })
  t.equal(all.statusCode, 200)
  t.match(all.json(), { task: null, paused: { reason: 'migration', all: true } })
  await app.inject({ method: 'POST', url: '/_schedule/run', headers: AUTH })
  t.same([...runs.keys()], [], 'nothing ran')
  t.match((await app.inject({ method: 'GET', url: '/_schedule', headers: AUTH })).json().paused, { reason: 'migration', all: true })
  clock.set(START + 3 * MINUTE)
  const resumed = await app.inject({ method: 'POST', url: '/_schedule/resume', headers: AUTH, payload: { catchUp: true } })
  t.equal(resumed.statusCode, 200)
  t.match(resumed.json(), { task: null, resumed: true })
  t.same(resumed.json().runs.map((r: { task: string }) => r.task).sort(), ['a', 'b'], 'the latest occurrence of each ran')
  t.end()
})

t.test('unknown task: 404 naming it; bad bodies: 400; no credentials: 401', async t => {
  const { app } = await buildRoutesApp()
  t.teardown(() => app.close())
  const unknown = await app.inject({ method: 'POST', url: '/_schedule/tasks/nope/pause', headers: AUTH })
  t.equal(unknown.statusCode, 404)
  t.match(unknown.json().message, /unknown task "nope"/)
  t.equal((await app.inject({ method: 'POST', url: '/_schedule/tasks/nope/resume', headers: AUTH })).statusCode, 404)
  const long = await app.inject({ method: 'POST', url: '/_schedule/tasks/a/pause', headers: AUTH, payload: { reason: 'x'.repeat(501) } })
  t.equal(long.statusCode, 400)
  t.match(long.json().message, /reason/)
  const extra = await app.inject({ method: 'POST', url: '/_schedule/resume', headers: AUTH, payload: { catchup: true } })
  t.equal(extra.statusCode, 400, 'a misspelt field is refused')
  const noAuth = await app.inject({ method: 'POST', url: '/_schedule/pause' })
  t.equal(noAuth.statusCode, 401)
  t.equal((await app.inject({ method: 'GET', url: '/_schedule/health' })).json().paused, 0, 'nothing was paused')
  t.end()
})
