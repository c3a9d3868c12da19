/** The example app's own routes and its /_schedule routes, through inject. */
import t from 'tap'
import { build, TEST_TOKEN } from '../../example-app/test/helper.js'

t.test('POST and GET /subscribers', async t => {
  const app = await build(t)
  const created = await app.inject({ method: 'POST', url: '/subscribers', payload: { email: 'ada@example.com' } })
  t.equal(created.statusCode, 201)
  t.match(created.json(), { id: 1, email: 'ada@example.com', billedStatus: null })
  const duplicate = await app.inject({ method: 'POST', url: '/subscribers', payload: { email: 'ada@example.com' } })
  t.equal(duplicate.statusCode, 409)
  const invalid = await app.inject({ method: 'POST', url: '/subscribers', payload: { email: 'not an address' } })
  t.equal(invalid.statusCode, 400)
  const list = await app.inject({ url: '/subscribers' })
  t.same(list.json().subscribers.map((row: { email: string }) => row.email), ['ada@example.com'])
})

t.test('GET /billing-api/status answers a status fixed by the address', async t => {
  const app = await build(t)
  for (const [email, status] of [['ada@example.com', 'active'], ['grace+late@example.com', 'past_due'], ['linus+gone@example.com', 'cancelled']]) {
    const response = await app.inject({ url: `/billing-api/status?email=${encodeURIComponent(email)}` })
    t.same(response.json(), { email, status })
  }
  t.equal((await app.inject({ url: '/billing-api/status' })).statusCode, 400, 'email is required')
})

t.test('the scheduler routes are mounted and need the token', async t => {
  const app = await build(t)
  t.equal((await app.inject({ url: '/_schedule' })).statusCode, 401)
  const listing = await app.inject({ url: '/_schedule', headers: { authorization: `Bearer ${TEST_TOKEN}` } })
  t.equal(listing.statusCode, 200)
  t.same(listing.json().tasks.map((task: { name: string }) => task.name), ['daily-digest', 'prune-sessions', 'say-hi', 'sync-subscribers'])
})

t.test('GET / says what the app is and lists its tasks', async t => {
  const app = await build(t)
  const response = await app.inject({ url: '/' })
  t.equal(response.statusCode, 200)
  t.match(response.json(), { app: 'fastify-scheduler example', tasks: ['daily-digest', 'prune-sessions', 'say-hi', 'sync-subscribers'] })
})
