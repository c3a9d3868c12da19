/**
 * The example app's four tasks, through `app.scheduler.tick(new Date(...))`. The first tick
 * of each test, at an earlier time, is when the store first sees the tasks (firstSeen).
 */
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import type { RunOutcome } from '../../plugin/types.js'
import { build } from '../../example-app/test/helper.js'

async function tickAt (app: FastifyInstance, iso: string): Promise<RunOutcome[]> {
  return (await app.scheduler.tick(new Date(iso))).settled
}

function statusOf (outcomes: RunOutcome[], task: string): string | undefined {
  return outcomes.find(outcome => outcome.task === task)?.status
}

function outbox (app: FastifyInstance): string[] {
  return readdirSync(app.mail.outbox).sort().map(file => readFileSync(join(app.mail.outbox, file), 'utf8'))
}

/** The digests only: the admin also gets a mail when a task fails (sync-subscribers does, with no billing service listening). */
function digests (app: FastifyInstance): string[] {
  return outbox(app).filter(mail => /^Subject: Daily digest/m.test(mail))
}

function addSubscriber (app: FastifyInstance, email: string, createdAt: string): void {
  app.db.prepare('INSERT INTO subscribers (email, created_at) VALUES (?, ?)').run(email, Date.parse(createdAt))
}

t.test('the four tasks are discovered, in both forms', async t => {
  const app = await build(t)
  const listing = await app.scheduler.list(new Date('2026-05-11T12:00:00Z'))
  t.same(listing.tasks.map(task => [task.name, task.schedule]), [
    ['daily-digest', 'daily at 17:00 (UTC)'],
    ['prune-sessions', 'every hour (UTC)'],
    ['say-hi', 'every minute (UTC)'],
    ['sync-subscribers', 'every 3 days at 17:00 (UTC)']
  ])
})

t.test('say-hi runs every minute', async t => {
  const app = await build(t)
  t.equal(statusOf(await tickAt(app, '2026-05-11T12:00:00Z'), 'say-hi'), 'succeeded')
  t.equal(statusOf(await tickAt(app, '2026-05-11T12:01:00Z'), 'say-hi'), 'succeeded')
})

t.test('the 17:00 digest mails the subscribers who arrived since the last digest', async t => {
  const app = await build(t)
  await tickAt(app, '2026-05-11T12:00:00Z')
  addSubscriber(app, 'old@example.com', '2026-05-09T08:00:00Z')
  addSubscriber(app, 'ada@example.com', '2026-05-11T09:00:00Z')
  addSubscriber(app, 'grace@example.com', '2026-05-11T16:59:00Z')
  addSubscriber(app, 'later@example.com', '2026-05-11T17:30:00Z')

  t.equal(statusOf(await tickAt(app, '2026-05-11T16:59:00Z'), 'daily-digest'), undefined, 'not before 17:00')
  t.equal(statusOf(await tickAt(app, '2026-05-11T17:00:00Z'), 'daily-digest'), 'succeeded')
  const [first] = digests(app)
  t.match(first, /^To: team@example\.com$/m)
  t.match(first, /^Subject: Daily digest: 2 new subscribers$/m)
  t.match(first, /ada@example\.com/)
  t.match(first, /grace@example\.com/)
  t.notMatch(first, /old@example\.com/, 'older than a day, before the first digest')
  t.notMatch(first, /later@example\.com/, 'arrived after the 17:00 occurrence')

  t.equal(statusOf(await tickAt(app, '2026-05-12T17:02:00Z'), 'daily-digest'), 'succeeded', 'a late ping still sends it')
  const mails = digests(app)
  t.equal(mails.length, 2)
  t.match(mails[1], /^Subject: Daily digest: 1 new subscriber$/m)
  t.match(mails[1], /later@example\.com/)
  t.notMatch(mails[1], /ada@example\.com/, 'only what arrived since the last digest')

  t.equal(statusOf(await tickAt(app, '2026-05-13T17:00:00Z'), 'daily-digest'), 'succeeded')
  t.equal(digests(app).length, 2, 'no newcomers, no mail')
})

t.test('prune-sessions deletes the expired sessions every hour', async t => {
  const app = await build(t)
  const add = app.db.prepare('INSERT INTO sessions (id, user, expires_at) VALUES (?, ?, ?)')
  add.run('a', 'ada', Date.parse('2026-05-11T11:00:00Z'))
  add.run('b', 'grace', Date.parse('2026-05-11T12:30:00Z'))
  add.run('c', 'linus', Date.parse('2026-05-11T15:00:00Z'))
  const remaining = (): string[] => (app.db.prepare('SELECT id FROM sessions ORDER BY id').all() as Array<{ id: string }>).map(row => row.id)

  t.equal(statusOf(await tickAt(app, '2026-05-11T12:00:00Z'), 'prune-sessions'), 'succeeded')
  t.same(remaining(), ['b', 'c'])
  t.equal(statusOf(await tickAt(app, '2026-05-11T12:30:00Z'), 'prune-sessions'), undefined, 'not due at half past')
  t.equal(statusOf(await tickAt(app, '2026-05-11T13:00:00Z'), 'prune-sessions'), 'succeeded')
  t.same(remaining(), ['c'])
})

t.test('sync-subscribers asks the billing stand-in on the listening address, every 3 days at 17:00', async t => {
  const app = await build(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  addSubscriber(app, 'ada@example.com', '2026-05-01T00:00:00Z')
  addSubscriber(app, 'grace+late@example.com', '2026-05-01T00:00:00Z')
  addSubscriber(app, 'linus+gone@example.com', '2026-05-01T00:00:00Z')
  const statuses = (): Array<[string, string | null]> =>
    (app.db.prepare('SELECT email, billed_status FROM subscribers ORDER BY id').all() as Array<{ email: string, billed_status: string | null }>)
      .map(row => [row.email, row.billed_status])

  await tickAt(app, '2026-05-11T12:00:00Z')
  t.equal(statusOf(await tickAt(app, '2026-05-11T17:00:00Z'), 'sync-subscribers'), undefined, 'the 11th is not a multiple of 3')
  t.same(statuses().map(([, status]) => status), [null, null, null])
  t.equal(statusOf(await tickAt(app, '2026-05-12T17:00:00Z'), 'sync-subscribers'), 'succeeded')
  t.same(statuses(), [['ada@example.com', 'active'], ['grace+late@example.com', 'past_due'], ['linus+gone@example.com', 'cancelled']])
})

t.test('sync-subscribers calls the configured billing URL, and fails naming it when it errs', async t => {
  const billing = Fastify()
  const asked: string[] = []
  billing.get('/v2/status', async (request, reply) => {
    const { email } = request.query as { email: string }
    asked.push(email)
    return email.startsWith('broken') ? reply.code(502).send({ message: 'upstream down' }) : { status: 'active' }
  })
  await billing.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => billing.close())
  const app = await build(t, { billingUrl: `${billing.listeningOrigin}/v2/` })
  addSubscriber(app, 'ada@example.com', '2026-05-01T00:00:00Z')

  await tickAt(app, '2026-05-11T12:00:00Z')
  t.equal(statusOf(await tickAt(app, '2026-05-12T17:00:00Z'), 'sync-subscribers'), 'succeeded')
  t.same(asked, ['ada@example.com'])

  addSubscriber(app, 'broken@example.com', '2026-05-13T00:00:00Z')
  const outcomes = await tickAt(app, '2026-05-15T17:00:00Z')
  const sync = outcomes.find(outcome => outcome.task === 'sync-subscribers')
  t.equal(sync?.status, 'failed')
  t.match(sync?.error, `billing API ${billing.listeningOrigin}/v2/status answered 502 for broken@example.com`)
  await app.close() // the failure mail is sent by an onRunEnd hook, after the record
  const alert = outbox(app).find(mail => /^Subject: \[scheduler\] sync-subscribers failed$/m.test(mail))
  t.ok(alert, 'the admin was mailed about the failure')
  t.match(alert, /^To: admin@example\.com$/m)
  t.match(alert, /answered 502 for/)
  t.notOk(outbox(app).some(mail => /\[scheduler\] say-hi/.test(mail)), 'no mail for runs that succeeded')
})
