/**
 * PgBouncer in transaction mode (1.18, as distributions ship it) keeps no prepared statement:
 * consecutive queries of one client land on different server connections, and a named
 * statement is "already exists" on one and "does not exist" on another. Three stores with
 * the DEFAULT options (prepare: true) claim through a real PgBouncer at once: each falls back
 * to unnamed statements at its first lost statement, warns once naming `prepare: false`, and
 * no call fails: every occurrence is claimed exactly once. The shared PostgreSQL server is
 * only connected to.
 */
import t from 'tap'
import { postgresStore } from '../../plugin/stores/postgres/index.js'
import type { Store } from '../../plugin/stores/store.js'
import { startPgbouncer, whyNoPgbouncer } from '../helpers/pgbouncer.js'
import { needs, postgresService, postgresUrl, probePostgres } from '../helpers/services.js'
import { T0, run } from './conformance.js'
import { reportLedger } from '../helpers/ledger.js'

const skip = needs((await probePostgres()) ?? whyNoPgbouncer())
const MINUTE = 60_000
const TASKS = Array.from({ length: 10 }, (_, i) => `bounced-${i}`)
const OCCURRENCES = [1, 2, 3, 4].map((minute) => T0 + minute * MINUTE)

t.test('three stores with default options behind PgBouncer (transaction mode): one warning each, every occurrence claimed exactly once, no call fails', skip, async (t) => {
  const postgres = await postgresService(t)
  if (postgres === undefined) return
  const server = new URL(postgresUrl())
  const bouncer = await startPgbouncer({ host: server.hostname, port: Number(server.port || 5432), database: server.pathname.slice(1) })
  t.teardown(() => bouncer.stop())

  const warnings: string[][] = [[], [], []]
  const stores: Store[] = [0, 1, 2].map(() => postgresStore({ connectionString: bouncer.connectionString, schema: postgres.schema }))
  t.teardown(async () => { for (const store of stores) await store.close() })
  await Promise.all(stores.map((store, i) => store.init({ log: { warn: (_obj, msg) => { warnings[i]!.push(msg) } } })))
  await stores[0]!.ensureTasks(TASKS, new Date(T0))

  const failures: unknown[] = []
  const started = new Map<string, string[]>()
  // Occurrence after occurrence, as ticks come (a later occurrence claimed first would make an
  // earlier one "already claimed"); within one, every task on every store at once.
  for (const occurrence of OCCURRENCES) {
    await Promise.all(TASKS.flatMap((task) => stores.map(async (store, i) => {
      const id = `${task}-${occurrence}-store${i}`
      try {
        const result = await store.startRun({
          run: { ...run(id, task, 0, 'running'), scheduledFor: new Date(occurrence), startedAt: new Date(occurrence) },
          claim: 'occurrence',
          lease: { key: `${task}:${occurrence}`, ttlMs: MINUTE, nowMs: occurrence },
          historyLimit: 100
        })
        if (result.outcome === 'claimed') return
        const key = `${task}@${occurrence}`
        started.set(key, [...(started.get(key) ?? []), result.outcome])
        await store.finishRun({ ...run(id, task, 0, 'succeeded'), scheduledFor: new Date(occurrence), startedAt: new Date(occurrence) },
          { leaseKey: `${task}:${occurrence}`, historyLimit: 100 })
      } catch (err) {
        failures.push(err)
      }
    })))
  }

  t.same(failures, [], 'no call failed (no 503): a lost prepared statement is retried unnamed')
  const owed = OCCURRENCES.length * TASKS.length
  t.equal(started.size, owed, `all ${owed} occurrences claimed`)
  t.same([...started.values()].filter((outcomes) => outcomes.length !== 1 || outcomes[0] !== 'started'), [], 'each exactly once, by one store')
  const { runs } = await stores[1]!.listRuns({ status: ['succeeded'], limit: 1000 })
  t.equal(runs.length, owed, 'one succeeded record per occurrence')
  for (const [i, messages] of warnings.entries()) {
    t.equal(messages.length, 1, `store ${i}: warned once`)
    t.match(messages[0], /prepare: false/, `store ${i}: the warning names the fix`)
  }
  t.comment(`${bouncer.version}: ${owed} occurrences × 3 stores, ${runs.length} runs, ${failures.length} failed calls`)
  const keys = OCCURRENCES.flatMap((occurrence) => TASKS.map((task) => `${task}@${occurrence}`))
  reportLedger(t, `PgBouncer in transaction mode, default options, 3 stores (${bouncer.version})`, keys,
    [...started].flatMap(([key, outcomes]) => outcomes.map(() => key)))
})
