/**
 * What exactly-once costs: 100 due tasks started per round through `store.startRun` (claim +
 * lease + running record in one atomic step, each task with its own lease key, issued
 * concurrently as a tick issues them), against the cheapest durable write of the same store
 * in the same run, alternating rounds. After each timed round the runs are finished
 * (`finishRun` releasing the leases, untimed) so the next round starts on free leases.
 * Baselines:
 *   sqlite    a prepared INSERT into a scratch table, same file, same pragmas (WAL, synchronous NORMAL)
 *   redis     SET
 *   postgres  a single-row INSERT into a scratch table, same schema, same pool size
 * Each store is isolated (temp file, random key prefix, random schema) and cleaned up after.
 * A store whose server is down gives a null figure with the reason.
 *
 *   npx tsx bench/claims.ts [--json]
 */
import Database from 'better-sqlite3'
import { Redis } from 'ioredis'
import pg from 'pg'
import { postgresStore } from '../plugin/stores/postgres.js'
import { redisStore } from '../plugin/stores/redis.js'
import { sqliteStore } from '../plugin/stores/sqlite.js'
import type { RunRecord, Store } from '../plugin/stores/store.js'
import {
  createSchema, deleteRedisKeys, postgresUrl, probePostgres, probeRedis, redisUrl, uniqueName
} from '../test/helpers/services.js'
import { alternate, figure, goal, orUnmeasured, progress, runAlone, tempDir, timeMs, type Figure, type Figures } from './util.js'

const TASKS = 100
/** The plugin's default history limit, so pruning costs what it costs in an app. */
const HISTORY_LIMIT = 100
const LEASE_TTL_MS = 60_000
const ROUNDS = 60
const WARMUP_ROUNDS = 5
const COMMAND = 'npx tsx bench/claims.ts'
const CLAIM_GOAL = goal('<=', 2, '× (startRun ÷ bare write)', COMMAND)
const BASE_OCCURRENCE = Date.parse('2026-05-11T00:00:00Z')
const names = Array.from({ length: TASKS }, (_, i) => `claim-${i}`)

/** One side's write of key `key` at instant `at`. */
type Write = (key: string, at: number) => Promise<unknown>

interface Contender {
  store: Store
  bareWrite: Write
  /** What the bare write is, for the report. */
  bareWriteLabel: string
  cleanup: () => Promise<void>
}

/** A `running` record of task `task` for the occurrence at `at`, started then. */
function running (task: string, at: number): RunRecord {
  return { id: `${task}@${at}`, task, scheduledFor: new Date(at), trigger: 'http', startedAt: new Date(at), status: 'running', attempt: 1, forced: false }
}

/** Starts per round against bare writes per round; both sides issue their 100 calls at once. */
async function measure (kind: string, contender: Contender): Promise<Figure> {
  const { store, bareWrite } = contender
  await store.init()
  await store.ensureTasks(names, new Date(BASE_OCCURRENCE))
  let round = 0
  let lost = 0
  const startRound = async (): Promise<number> => {
    const at = BASE_OCCURRENCE + (++round) * 60_000
    const runs = names.map((name) => running(name, at))
    const ms = await timeMs(async () => {
      const results = await Promise.all(runs.map((run) => store.startRun({
        run, claim: 'occurrence', lease: { key: `lease:${run.task}`, ttlMs: LEASE_TTL_MS, nowMs: at }, historyLimit: HISTORY_LIMIT
      })))
      lost += results.filter((r) => r.outcome !== 'started').length
    })
    await Promise.all(runs.map((run) => store.finishRun(
      { ...run, status: 'succeeded', finishedAt: new Date(at + 1), durationMs: 1 },
      { leaseKey: `lease:${run.task}`, historyLimit: HISTORY_LIMIT })))
    return ms
  }
  let writeRound = 0
  const bareRound = async (): Promise<number> => {
    const at = BASE_OCCURRENCE + (++writeRound) * 60_000
    return await timeMs(() => Promise.all(names.map(name => bareWrite(`${name}:${writeRound}`, at))))
  }
  for (let i = 0; i < WARMUP_ROUNDS; i++) {
    await startRound()
    await bareRound()
  }
  const measured = await alternate(ROUNDS, startRound, bareRound)
  if (lost > 0) throw new Error(`${kind}: ${lost} starts not started on a store nobody else uses`)
  return figure(measured.ours / measured.baseline, CLAIM_GOAL, {
    startsPerSecond: Math.round(TASKS / (measured.ours / 1000)),
    bareWritesPerSecond: Math.round(TASKS / (measured.baseline / 1000)),
    bareWrite: contender.bareWriteLabel,
    tasksPerRound: TASKS
  })
}

async function sqliteContender (): Promise<Contender> {
  const temp = tempDir('claims')
  const path = `${temp.dir}/claims.sqlite`
  const store = sqliteStore({ path })
  await store.init() // creates the file and sets WAL before the baseline connection opens
  const db = new Database(path)
  db.pragma('busy_timeout = 5000')
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.exec('CREATE TABLE bench_scratch (k TEXT NOT NULL, at INTEGER NOT NULL)')
  const insert = db.prepare('INSERT INTO bench_scratch (k, at) VALUES (?, ?)')
  return {
    store,
    bareWrite: async (key, at) => insert.run(key, at),
    bareWriteLabel: 'prepared INSERT, same file, WAL, synchronous=NORMAL',
    cleanup: async () => {
      db.close()
      await store.close()
      temp.remove()
    }
  }
}

async function redisContender (): Promise<Contender> {
  const prefix = `fastify-scheduler-bench:${uniqueName('b')}:`
  const store = redisStore({ url: redisUrl(), prefix })
  const client = new Redis(redisUrl())
  return {
    store,
    bareWrite: (key, at) => client.set(`${prefix}scratch:${key}`, String(at)),
    bareWriteLabel: 'SET on its own connection',
    cleanup: async () => {
      await store.close()
      try {
        await deleteRedisKeys(client, prefix)
      } finally {
        await client.quit()
      }
    }
  }
}

async function postgresContender (): Promise<Contender> {
  const admin = new pg.Pool({ connectionString: postgresUrl(), max: 1 })
  const { schema, drop } = await createSchema(admin, 'fs_bench')
  const store = postgresStore({ connectionString: postgresUrl(), schema })
  const scratch = `${pg.escapeIdentifier(schema)}.bench_scratch`
  await admin.query(`CREATE TABLE ${scratch} (k text NOT NULL, at timestamptz NOT NULL)`)
  // The store's own pool has pg's default size (10); the baseline gets the same.
  const pool = new pg.Pool({ connectionString: postgresUrl() })
  return {
    store,
    bareWrite: (key, at) => pool.query(`INSERT INTO ${scratch} (k, at) VALUES ($1, $2)`, [key, new Date(at)]),
    bareWriteLabel: 'single-row INSERT, same schema, pool of 10',
    cleanup: async () => {
      await store.close()
      await pool.end()
      try {
        await drop()
      } finally {
        await admin.end()
      }
    }
  }
}

/** One store's figure, or null with the reason (server down, or the bench failed). */
async function benchStore (kind: string, probe: () => Promise<string | undefined>, make: () => Promise<Contender>): Promise<Figures> {
  return await orUnmeasured(`claims ${kind}`, { [kind]: CLAIM_GOAL }, async () => {
    const problem = await probe()
    if (problem !== undefined) throw new Error(problem)
    progress(`claims: ${kind}, ${TASKS} startRun per round, ${ROUNDS} rounds`)
    const contender = await make()
    try {
      return { [kind]: await measure(kind, contender) }
    } finally {
      await contender.cleanup()
    }
  })
}

export async function benchClaims (): Promise<Figures> {
  const stores = {
    ...await benchStore('sqlite', async () => undefined, sqliteContender),
    ...await benchStore('redis', probeRedis, redisContender),
    ...await benchStore('postgres', probePostgres, postgresContender)
  }
  return { claimsVsRawWrite: stores as Record<string, Figure> }
}

runAlone(import.meta.url, benchClaims)
