/** The example app's settings: options, then environment, then defaults; and a database that cannot open. */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { resolveConfig } from '../../example-app/config.js'
import { build } from '../../example-app/test/helper.js'

const EXAMPLE = fileURLToPath(new URL('../../example-app', import.meta.url))

t.test('defaults live under example-app/, whatever the working directory', async t => {
  const config = resolveConfig({}, {})
  t.same(config, {
    dataDir: join(EXAMPLE, 'data'),
    outboxDir: join(EXAMPLE, 'outbox'),
    dbPath: join(EXAMPLE, 'data', 'app.sqlite'),
    schedulerDbPath: join(EXAMPLE, 'data', 'scheduler.sqlite'),
    store: undefined,
    billingUrl: undefined,
    digestTo: 'team@example.com',
    adminEmail: 'admin@example.com',
    timezone: undefined,
    scheduleToken: undefined
  })
})

t.test('the environment overrides the defaults, and options override the environment', async t => {
  const env = {
    EXAMPLE_DATA_DIR: '/srv/data',
    EXAMPLE_OUTBOX_DIR: '/srv/outbox',
    EXAMPLE_DB_PATH: 'relative/app.db',
    BILLING_API_URL: 'https://billing.example.com/api',
    DIGEST_TO: 'ops@example.com',
    ADMIN_EMAIL: 'oncall@example.com',
    SCHEDULE_TIMEZONE: 'Europe/Berlin'
  }
  t.match(resolveConfig({}, env), {
    dataDir: '/srv/data',
    outboxDir: '/srv/outbox',
    dbPath: resolve('relative/app.db'),
    schedulerDbPath: '/srv/data/scheduler.sqlite',
    billingUrl: 'https://billing.example.com/api',
    digestTo: 'ops@example.com',
    adminEmail: 'oncall@example.com',
    timezone: 'Europe/Berlin'
  })
  t.match(resolveConfig({ dataDir: '/opt/x', digestTo: 'me@example.com', timezone: 'UTC' }, env), {
    dataDir: '/opt/x', digestTo: 'me@example.com', timezone: 'UTC', dbPath: resolve('relative/app.db')
  })
})

t.test('without a store option the scheduler uses SQLite in the data folder, with the token from the environment', async t => {
  const token = process.env.SCHEDULE_TOKEN
  process.env.SCHEDULE_TOKEN = 'from-the-environment-0123456789'
  t.teardown(() => { if (token === undefined) delete process.env.SCHEDULE_TOKEN; else process.env.SCHEDULE_TOKEN = token })
  const app = await build(t, { store: undefined, scheduleToken: undefined, timezone: undefined })
  t.equal(app.scheduler.store.kind, 'sqlite')
  const listing = await app.inject({ url: '/_schedule', headers: { authorization: 'Bearer from-the-environment-0123456789' } })
  t.equal(listing.statusCode, 200)
  t.equal(listing.json().store.kind, 'sqlite')
})

t.test('a database path that cannot be opened fails the boot, naming it', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'example-db-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  await t.rejects(build(t, { dbPath: dir }), { message: `example-app db: cannot open ${dir}:` })
})
