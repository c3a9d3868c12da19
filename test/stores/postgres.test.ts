import { readFileSync } from 'node:fs'
import pg from 'pg'
import t from 'tap'
import { postgresStore } from '../../plugin/stores/postgres.js'
import { createSchema, freePort, needs, postgresService, postgresUrl, probePostgres, uniqueName } from '../helpers/services.js'
import { postgresProxy } from '../helpers/outage.js'
import { start } from '../../plugin/stores/conformance.js'
import { T0, claimRace, expectEveryCallUnavailable, run, storeConformance } from './conformance.js'

const skip = needs(await probePostgres())

t.test('postgres store', skip, async (t) => {
  const admin = new pg.Pool({ connectionString: postgresUrl(), max: 2 })
  const drops: Array<() => Promise<void>> = []
  t.teardown(async () => {
    for (const drop of drops) await drop()
    await admin.end()
  })
  storeConformance(t, 'postgres', async () => {
    const { schema, drop } = await createSchema(admin)
    drops.push(drop)
    return postgresStore({ connectionString: postgresUrl(), schema })
  })
})

t.test('options are checked when the store is created', async (t) => {
  const code = 'FST_SCHEDULER_INVALID_OPTION'
  t.throws(() => postgresStore({}), { code }, 'neither pool nor connectionString')
  const pool = new pg.Pool()
  t.teardown(() => pool.end())
  t.throws(() => postgresStore({ pool, connectionString: postgresUrl() }), { code }, 'both')
  t.throws(() => postgresStore({ pool, tablePrefix: 'x'.repeat(60) }), { code }, 'a table prefix too long for Postgres names')
  t.throws(() => postgresStore({ pool, schema: '' }), { code }, 'an empty schema')
  const store = postgresStore({ pool })
  t.equal(store.kind, 'postgres')
  t.equal(store.durable, true)
})

t.test('three stores (three pools) initialising a new schema at once: created once, then one winner per claim', skip, async (t) => {
  const schema = uniqueName('fs_boot')
  const stores = [0, 1, 2].map(() => postgresStore({ connectionString: postgresUrl(), schema, tablePrefix: 'sched_' }))
  t.teardown(async () => {
    for (const store of stores) await store.close()
    const admin = new pg.Client({ connectionString: postgresUrl() })
    await admin.connect()
    await admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`)
    await admin.end()
  })
  await Promise.all(stores.map((store) => store.init()))
  await stores[0]!.ensureTasks(['report'], new Date(T0))
  t.equal(await claimRace(stores, 'report', new Date(T0), 99), 1)
})

t.test('a pool the user passes in is used and never ended', skip, async (t) => {
  const postgres = await postgresService(t)
  if (postgres === undefined) return
  const pool = new pg.Pool({ connectionString: postgres.connectionString })
  t.teardown(() => pool.end())
  const store = postgresStore({ pool, schema: postgres.schema })
  await store.init()
  await store.ensureTasks(['report'], new Date(T0))
  await store.close()
  await store.close()
  t.equal(pool.ended, false)
  const { rows } = await pool.query(`SELECT task FROM ${pg.escapeIdentifier(postgres.schema)}.fastify_scheduler_tasks`)
  t.same(rows, [{ task: 'report' }], 'the pool still works, and the tables are where we asked')
})

t.test('outage: calls reject quickly with the coded error, and the same store recovers', skip, async (t) => {
  const postgres = await postgresService(t)
  if (postgres === undefined) return
  const proxy = await postgresProxy(await freePort())
  t.teardown(() => proxy.cut())
  const store = postgresStore({ connectionString: proxy.connectionString, schema: postgres.schema })
  await store.init()
  t.teardown(() => store.close())
  await store.ensureTasks(['report'], new Date(T0))
  t.equal((await start(store, run('r0', 'report', 0, 'running'))).outcome, 'started')

  // Idle pooled connections die with the proxy: the pool's 'error' must not crash the process.
  await proxy.cut()
  await expectEveryCallUnavailable(t, store)

  await proxy.restore()
  t.same((await store.ensureTasks(['report'], new Date(0))).get('report'),
    { firstSeen: new Date(T0), lastOccurrence: new Date(T0) }, 'the same store works again, state intact')
  t.equal((await start(store, run('r1', 'report', 1, 'running'), 'occurrence', T0 + 10 * 60_000)).outcome, 'started')
})

t.test('nothing listening at boot: init and calls reject with the coded error', async (t) => {
  const url = new URL(postgresUrl())
  url.hostname = 'localhost' // may resolve to ::1 and 127.0.0.1: the message must still say why
  url.port = String(await freePort())
  const store = postgresStore({ connectionString: url.toString() })
  t.teardown(() => store.close())
  const started = performance.now()
  await t.rejects(store.init(), { code: 'FST_SCHEDULER_STORE_UNAVAILABLE', message: /ECONNREFUSED/ })
  t.ok(performance.now() - started < 5000, 'init fails fast')
  await expectEveryCallUnavailable(t, store)
})

t.test('a v1 schema is migrated in place at init: v1 rows stay valid (attempt 1, not forced), v2 features work', skip, async (t) => {
  const postgres = await postgresService(t)
  if (postgres === undefined) return
  const admin = new pg.Client({ connectionString: postgres.connectionString })
  await admin.connect()
  t.teardown(() => admin.end())
  const schema = pg.escapeIdentifier(postgres.schema)
  const v1 = readFileSync(new URL('../fixtures/postgres-v1-schema.sql', import.meta.url), 'utf8')
  await admin.query(v1.replaceAll('":schema"', schema))
  await admin.query(`INSERT INTO ${schema}.fastify_scheduler_tasks (task, first_seen, last_occurrence) VALUES ('report', $1, $1)`, [new Date(T0)])
  await admin.query(`INSERT INTO ${schema}.fastify_scheduler_leases (key, owner, expires_at) VALUES ('report', 'old-run', $1)`, [new Date(T0 + 60_000)])
  await admin.query(`INSERT INTO ${schema}.fastify_scheduler_runs (id, task, scheduled_for, trigger, started_at, status)
    VALUES ('old-run', 'report', $1, 'schedule', $1, 'running')`, [new Date(T0)])

  const store = postgresStore({ connectionString: postgres.connectionString, schema: postgres.schema })
  t.teardown(() => store.close())
  await store.init()
  const version = await admin.query(`SELECT value FROM ${schema}.fastify_scheduler_meta WHERE key = 'schema_version'`)
  t.same(version.rows, [{ value: '2' }], 'schema_version bumped to 2')
  t.same((await store.listRuns({})).runs, [{ ...run('old-run', 'report', 0, 'running'), trigger: 'schedule' }], 'the v1 row reads as attempt 1, not forced, no instance')
  t.same((await store.ensureTasks(['report'], new Date(0))).get('report'), { firstSeen: new Date(T0), lastOccurrence: new Date(T0) }, 'task state kept')

  // The v1 lease expired: taking it over abandons the v1 run, with a token from the new sequence.
  const started = await start(store, run('new-run', 'report', 2, 'running', { attempt: 1, instance: 'h:1' }))
  t.match(started, { outcome: 'started', abandoned: 'old-run' })
  t.equal((await store.listRuns({ status: ['abandoned'] })).total, 1)
  await store.finishRun(run('new-run', 'report', 2, 'failed', { instance: 'h:1' }), {
    leaseKey: 'report', historyLimit: 10, retry: { of: new Date(T0 + 120_000), attempt: 2, at: new Date(T0 + 180_000) }
  })
  t.same((await store.heartbeat({ at: new Date(T0), instance: 'h:1' })).retries, [{ task: 'report', of: new Date(T0 + 120_000), attempt: 2, at: new Date(T0 + 180_000) }])

  const again = postgresStore({ connectionString: postgres.connectionString, schema: postgres.schema })
  t.teardown(() => again.close())
  await again.init()
  t.equal((await again.listRuns({})).total, 2, 'a second init of a v2 schema changes nothing')

  await admin.query(`UPDATE ${schema}.fastify_scheduler_meta SET value = '3' WHERE key = 'schema_version'`)
  const older = postgresStore({ connectionString: postgres.connectionString, schema: postgres.schema })
  t.teardown(() => older.close())
  await t.rejects(older.init(), { code: 'FST_SCHEDULER_STORE_UNAVAILABLE', message: /version 3, newer than this fastify-scheduler knows/ },
    'a schema from a newer version is refused, not downgraded')
})
