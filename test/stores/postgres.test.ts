import { readFileSync } from 'node:fs'
import pg from 'pg'
import t, { type Test } from 'tap'
import { postgresStore } from '../../plugin/stores/postgres/index.js'
import type { Query } from '../../plugin/stores/postgres/connection.js'
import { MIGRATIONS, SCHEMA_VERSION, migrate } from '../../plugin/stores/postgres/migrations.js'
import { tableNames } from '../../plugin/stores/postgres/statements.js'
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
  t.throws(() => postgresStore({ pool, prepare: 'yes' as unknown as boolean }), { code, message: /prepare must be true or false/ })
  const store = postgresStore({ pool })
  t.equal(store.kind, 'postgres')
  t.equal(store.durable, true)
})

t.test('timeout takes milliseconds or a duration string, and names the option when wrong', async (t) => {
  const pool = new pg.Pool()
  t.teardown(() => pool.end())
  const code = 'FST_SCHEDULER_INVALID_OPTION'
  t.doesNotThrow(() => postgresStore({ pool, timeout: '2 seconds' }))
  t.doesNotThrow(() => postgresStore({ pool, timeout: 1500 }))
  t.throws(() => postgresStore({ pool, timeout: '2 secs' }), { code, message: /postgresStore: timeout "2 secs": expected/ })
  t.throws(() => postgresStore({ pool, timeout: 0 }), { code, message: /postgresStore: timeout 0: must be at least 1 ms/ })
  t.throws(() => postgresStore({ pool, timeout: -5 }), { code, message: /postgresStore: timeout -5/ })
  t.throws(() => postgresStore({ pool, timeout: '30 days' }), { code, message: /postgresStore: timeout "30 days": at most/ })
})

t.test('a late success racing the reaper\'s retry (two pools, 40 occurrences): never a pending retry beside a success', skip, async (t) => {
  const postgres = await postgresService(t)
  if (postgres === undefined) return
  const stores = [0, 1].map(() => postgresStore({ connectionString: postgres.connectionString, schema: postgres.schema }))
  t.teardown(async () => { for (const store of stores) await store.close() })
  await stores[0]!.init()
  const tasks = Array.from({ length: 40 }, (_, i) => `late-${i}`)
  await stores[0]!.ensureTasks(tasks, new Date(T0))
  let armed = 0
  await Promise.all(tasks.map(async (task) => {
    const id = `${task}-a1`
    await stores[0]!.startRun({ run: run(id, task, 1, 'running'), claim: 'occurrence', lease: { key: task, ttlMs: 60_000, nowMs: T0 + 60_000 }, historyLimit: 10 })
  }))
  const abandoned = await stores[1]!.abandonExpired(T0 + 10 * 60_000, 'lease expired')
  t.equal(abandoned.length, tasks.length, 'every run reaped')
  await Promise.all(abandoned.map(async (record) => {
    const [set] = await Promise.all([
      stores[1]!.retryAbandoned(record, { of: record.scheduledFor, attempt: 2, at: new Date(T0 + 20 * 60_000) }),
      stores[0]!.finishRun(run(record.id, record.task, 1, 'succeeded'), { leaseKey: record.task, historyLimit: 10 })
    ])
    if (set) armed++
  }))
  t.same((await stores[0]!.heartbeat()).retries, [], `no retry left pending (${armed} armed first, then cancelled by the success)`)
  t.equal((await stores[0]!.listRuns({ status: ['succeeded'], limit: 100 })).total, tasks.length, 'every late success recorded')
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

t.test('long statements are prepared once per connection, and not with prepare: false (PgBouncer transaction mode)', skip, async (t) => {
  const postgres = await postgresService(t)
  if (postgres === undefined) return
  const prepared = async (prepare: boolean): Promise<number> => {
    const pool = new pg.Pool({ connectionString: postgres.connectionString, max: 1 })
    t.teardown(() => pool.end())
    const store = postgresStore({ pool, schema: postgres.schema, tablePrefix: prepare ? 'p_' : 'u_', prepare })
    await store.init()
    await store.ensureTasks(['report'], new Date(T0))
    t.equal((await start(store, run(`r-${String(prepare)}`, 'report', 1, 'running'))).outcome, 'started')
    await store.finishRun(run(`r-${String(prepare)}`, 'report', 1), { leaseKey: 'report', historyLimit: 10 })
    // The one pooled connection: its session's prepared statements.
    const { rows } = await pool.query("SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'fastify_scheduler_%'")
    await store.close()
    return rows[0].n
  }
  t.equal(await prepared(true), 2, 'startRun and finishRun prepared on the connection')
  t.equal(await prepared(false), 0, 'nothing prepared with prepare: false')
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

/** A pg client on the test's database, ended when the test ends, and its schema quoted. */
async function adminOf (t: Test, postgres: { connectionString: string, schema: string }): Promise<{ admin: pg.Client, schema: string }> {
  const admin = new pg.Client({ connectionString: postgres.connectionString })
  await admin.connect()
  t.teardown(() => admin.end())
  return { admin, schema: pg.escapeIdentifier(postgres.schema) }
}

/** Load a fixture of older tables into the test's schema. */
async function loadFixture (admin: pg.Client, schema: string, name: string): Promise<void> {
  const sql = readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8')
  await admin.query(sql.replaceAll('":schema"', schema))
}

t.test('a v1 schema is migrated in place at init: v1 rows stay valid (attempt 1, not forced), later features work', skip, async (t) => {
  const postgres = await postgresService(t)
  if (postgres === undefined) return
  const { admin, schema } = await adminOf(t, postgres)
  await loadFixture(admin, schema, 'postgres-v1-schema.sql')
  await admin.query(`INSERT INTO ${schema}.fastify_scheduler_tasks (task, first_seen, last_occurrence) VALUES ('report', $1, $1)`, [new Date(T0)])
  await admin.query(`INSERT INTO ${schema}.fastify_scheduler_leases (key, owner, expires_at) VALUES ('report', 'old-run', $1)`, [new Date(T0 + 60_000)])
  await admin.query(`INSERT INTO ${schema}.fastify_scheduler_runs (id, task, scheduled_for, trigger, started_at, status)
    VALUES ('old-run', 'report', $1, 'schedule', $1, 'running')`, [new Date(T0)])

  const store = postgresStore({ connectionString: postgres.connectionString, schema: postgres.schema })
  t.teardown(() => store.close())
  await store.init()
  const version = await admin.query(`SELECT value FROM ${schema}.fastify_scheduler_meta WHERE key = 'schema_version'`)
  t.same(version.rows, [{ value: String(SCHEMA_VERSION) }], 'schema_version moved to the newest migration (older code refuses the tables)')
  const migrations = await admin.query(`SELECT id FROM ${schema}.fastify_scheduler_migrations ORDER BY id`)
  t.same(migrations.rows.map((row) => row.id), MIGRATIONS.map((m) => m.id), 'every migration recorded once')
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
  t.equal((await again.listRuns({})).total, 2, 'a second init of migrated tables changes nothing')
})

t.test('a v2 schema (before the migration list) gets only the new migration; its rows keep working', skip, async (t) => {
  const postgres = await postgresService(t)
  if (postgres === undefined) return
  const { admin, schema } = await adminOf(t, postgres)
  await loadFixture(admin, schema, 'postgres-v2-schema.sql')
  // A v2 task whose occurrence failed with a retry pending, written before last_attempt existed.
  await admin.query(`INSERT INTO ${schema}.fastify_scheduler_tasks (task, first_seen, last_occurrence, retry_of, retry_attempt, retry_at)
    VALUES ('report', $1, $2, $2, 2, $3)`, [new Date(T0), new Date(T0 + 60_000), new Date(T0 + 120_000)])
  await admin.query(`SELECT nextval('${schema}.fastify_scheduler_lease_tokens') FROM generate_series(1, 7)`)

  const query = async (text: string, values?: unknown[]) => await admin.query(text, values)
  const names = tableNames(postgres.schema, 'fastify_scheduler_')
  t.same(await migrate(query as Query, names, postgres.schema), { applied: MIGRATIONS.filter((m) => m.id > 2).map((m) => m.id), unknown: [] },
    'migrations 1 and 2 are recorded as done; only the later ones run')
  t.same(await migrate(query as Query, names, postgres.schema), { applied: [], unknown: [] }, 'and nothing runs twice')
  const column = await admin.query(`SELECT count(*)::int AS n FROM ${schema}.fastify_scheduler_tasks WHERE last_attempt IS NULL`)
  t.same(column.rows, [{ n: 1 }], 'the v2 row has last_attempt NULL: unknown')

  const store = postgresStore({ connectionString: postgres.connectionString, schema: postgres.schema })
  t.teardown(() => store.close())
  await store.init()
  t.same((await store.heartbeat()).fence, 7, 'the fence is the v2 sequence')
  // Attempt 2 of the v2 retry runs and fails: with the attempt unknown, the fence lets it arm attempt 3.
  const attempt2 = run('a2', 'report', 1, 'running', { attempt: 2 })
  t.match(await start(store, attempt2, 'retry'), { outcome: 'started', leaseToken: 8 })
  const retry3 = { of: new Date(T0 + 60_000), attempt: 3, at: new Date(T0 + 240_000) }
  await store.finishRun({ ...attempt2, status: 'failed', finishedAt: new Date(T0 + 61_000), durationMs: 1000 }, { leaseKey: 'report', historyLimit: 10, retry: retry3 })
  t.same((await store.heartbeat()).retries, [{ task: 'report', ...retry3 }], 'attempt 2 armed attempt 3')
  // A late result of attempt 1 (from before the upgrade) cannot re-arm anything now: the claim recorded attempt 2.
  await store.finishRun(run('a1', 'report', 1, 'failed'), { historyLimit: 10, retry: { ...retry3, attempt: 2 } })
  t.same((await store.heartbeat()).retries, [{ task: 'report', ...retry3 }], 'the late attempt 1 changed nothing')
})

t.test('tables newer than this code: refused when a migration it does not know is breaking, opened with a warning otherwise', skip, async (t) => {
  const postgres = await postgresService(t)
  if (postgres === undefined) return
  const { admin, schema } = await adminOf(t, postgres)
  const first = postgresStore({ connectionString: postgres.connectionString, schema: postgres.schema })
  t.teardown(() => first.close())
  await first.init()
  const next = SCHEMA_VERSION + 1

  await admin.query(`INSERT INTO ${schema}.fastify_scheduler_migrations (id, breaking) VALUES ($1, true)`, [next])
  const older = postgresStore({ connectionString: postgres.connectionString, schema: postgres.schema })
  t.teardown(() => older.close())
  await t.rejects(older.init(), {
    code: 'FST_SCHEDULER_STORE_UNAVAILABLE',
    message: new RegExp(`schema ${next}, written by a newer fastify-scheduler; this one knows ${SCHEMA_VERSION}: upgrade the package`)
  }, 'a breaking migration from a newer version is refused, never downgraded')

  await admin.query(`UPDATE ${schema}.fastify_scheduler_migrations SET breaking = false WHERE id = $1`, [next])
  const warnings: Array<[object, string]> = []
  const tolerant = postgresStore({ connectionString: postgres.connectionString, schema: postgres.schema })
  t.teardown(() => tolerant.close())
  await tolerant.init({ log: { warn: (obj, msg) => { warnings.push([obj, msg]) } } })
  t.match(warnings, [[{ migrations: [next] }, /from a newer fastify-scheduler \(none breaking\)/]], 'a newer non-breaking migration: opened, with one warning')

  // Tables from before the migration list, at a version this code does not know.
  const legacy = uniqueName('fs_legacy')
  t.teardown(() => admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(legacy)} CASCADE`))
  await admin.query(`CREATE SCHEMA ${pg.escapeIdentifier(legacy)}`)
  await admin.query(`CREATE TABLE ${pg.escapeIdentifier(legacy)}.fastify_scheduler_meta (key text PRIMARY KEY, value text NOT NULL)`)
  await admin.query(`INSERT INTO ${pg.escapeIdentifier(legacy)}.fastify_scheduler_meta VALUES ('schema_version', '${SCHEMA_VERSION + 1}')`)
  const stale = postgresStore({ connectionString: postgres.connectionString, schema: legacy })
  t.teardown(() => stale.close())
  await t.rejects(stale.init(), { code: 'FST_SCHEDULER_STORE_UNAVAILABLE', message: new RegExp(`schema ${SCHEMA_VERSION + 1}, written by a newer fastify-scheduler`) })
})
