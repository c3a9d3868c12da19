/**
 * What exactly-once costs: 100 due tasks started per round through `store.startRun` (claim +
 * lease + running record in one atomic step, each task with its own lease key, issued
 * concurrently as a tick issues them), against two baselines of the same store in the same
 * run, alternating rounds. After each timed round the runs are finished (`finishRun`
 * releasing the leases, untimed) so the next round starts on free leases.
 *
 * `claimsVsRawWrite` — the raw write of what a start writes: the run record itself, with no
 * claim, no lease, no atomicity:
 *   sqlite    a prepared INSERT of the record into a table shaped like the runs table (same columns, keys, indexes)
 *   redis     HSET of the record's hash plus the two ZADDs that index it, pipelined
 *   postgres  an INSERT of the record into a table LIKE the runs table INCLUDING ALL (indexes)
 * In its detail, `vsBareWrite`: against the first release's baseline, the cheapest durable
 * write at all (sqlite a two-column INSERT, redis SET, postgres a two-column INSERT).
 * Each store is isolated (temp file, random key prefix, random schema) and cleaned up after.
 * A store whose server is down gives a null figure with the reason.
 *
 *   npx tsx bench/claims.ts [--json]
 */
import Database from 'better-sqlite3'
import { Redis } from 'ioredis'
import pg from 'pg'
import { postgresStore } from '../plugin/stores/postgres/index.js'
import { redisStore } from '../plugin/stores/redis/index.js'
import { sqliteStore } from '../plugin/stores/sqlite/index.js'
import { runToStored } from '../plugin/stores/driver.js'
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
const CLAIM_GOAL = goal('<=', 2, '× (startRun ÷ raw write of the same record)', COMMAND)
const BASE_OCCURRENCE = Date.parse('2026-05-11T00:00:00Z')
const names = Array.from({ length: TASKS }, (_, i) => `claim-${i}`)

/** One side's write of key `key` at instant `at`. */
type Write = (key: string, at: number) => Promise<unknown>

/** The raw write of a run record. */
type RecordWrite = (run: RunRecord) => Promise<unknown>

interface Contender {
  store: Store
  bareWrite: Write
  /** What the bare write is, for the report. */
  bareWriteLabel: string
  recordWrite: RecordWrite
  recordWriteLabel: string
  cleanup: () => Promise<void>
}

/** `scheduledFor` → `scheduled_for`: the SQL column of a record field. */
function snake (field: string): string {
  return field.replace(/[A-Z]/g, c => `_${c.toLowerCase()}`)
}

/** A `running` record of task `task` for the occurrence at `at`, started then. */
function running (task: string, at: number): RunRecord {
  return { id: `${task}@${at}`, task, scheduledFor: new Date(at), trigger: 'http', startedAt: new Date(at), status: 'running', attempt: 1, forced: false }
}

/** Starts per round against raw record writes and bare writes per round; every side issues its 100 calls at once. */
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
  let recordRound = 0
  const rawRound = async (): Promise<number> => {
    const at = BASE_OCCURRENCE + (++recordRound) * 60_000
    const runs = names.map((name) => ({ ...running(name, at), id: `raw:${name}@${at}` }))
    return await timeMs(() => Promise.all(runs.map(run => contender.recordWrite(run))))
  }
  for (let i = 0; i < WARMUP_ROUNDS; i++) {
    await startRound()
    await rawRound()
    await bareRound()
  }
  const raw = await alternate(ROUNDS, startRound, rawRound)
  const bare = await alternate(Math.ceil(ROUNDS / 2), startRound, bareRound)
  if (lost > 0) throw new Error(`${kind}: ${lost} starts not started on a store nobody else uses`)
  return figure(raw.ours / raw.baseline, CLAIM_GOAL, {
    startsPerSecond: Math.round(TASKS / (raw.ours / 1000)),
    rawRecordWritesPerSecond: Math.round(TASKS / (raw.baseline / 1000)),
    rawWrite: contender.recordWriteLabel,
    vsBareWrite: Math.round(100 * bare.ours / bare.baseline) / 100,
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
  // A table shaped like the runs table: its columns, primary key and indexes, copied from the schema.
  const runsTable = db.prepare<[], { sql: string }>("SELECT sql FROM sqlite_master WHERE name = 'fastify_scheduler_runs'").get()!.sql
  db.exec(runsTable.replace('fastify_scheduler_runs', 'bench_runs'))
  for (const { sql } of db.prepare<[], { sql: string }>("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'fastify_scheduler_runs' AND sql IS NOT NULL").all()) {
    db.exec(sql.replace(/fastify_scheduler_runs/g, 'bench_runs').replace(/INDEX (IF NOT EXISTS )?(\w+)/, 'INDEX bench_$2'))
  }
  const columns = Object.keys(runToStored(running('x', 0), d => d.getTime()))
  const insertRun = db.prepare(`INSERT INTO bench_runs (${columns.map(snake).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`)
  return {
    store,
    bareWrite: async (key, at) => insert.run(key, at),
    bareWriteLabel: 'prepared INSERT, same file, WAL, synchronous=NORMAL',
    recordWrite: async (run) => insertRun.run(...Object.values(runToStored(run, d => d.getTime()))),
    recordWriteLabel: 'prepared INSERT of the record into a copy of the runs table (keys, indexes), same file',
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
    recordWrite: (run) => {
      const stored = runToStored(run, d => d.getTime())
      const fields = Object.entries(stored).flatMap(([field, value]) => value === null ? [] : [field, String(value)])
      return client.pipeline()
        .hset(`${prefix}scratch:run:${run.id}`, ...fields)
        .zadd(`${prefix}scratch:runs`, run.startedAt.getTime(), run.id)
        .zadd(`${prefix}scratch:runs:${run.task}`, run.startedAt.getTime(), run.id)
        .exec()
    },
    recordWriteLabel: 'HSET of the record + the two ZADDs indexing it, pipelined',
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
  await store.init() // creates the runs table the record baseline copies
  const runsCopy = `${pg.escapeIdentifier(schema)}.bench_runs`
  await admin.query(`CREATE TABLE ${runsCopy} (LIKE ${pg.escapeIdentifier(schema)}.fastify_scheduler_runs INCLUDING ALL)`)
  const columns = Object.keys(runToStored(running('x', 0), d => d))
  // The store's own pool has pg's default size (10); the baseline gets the same.
  const pool = new pg.Pool({ connectionString: postgresUrl() })
  return {
    store,
    bareWrite: (key, at) => pool.query(`INSERT INTO ${scratch} (k, at) VALUES ($1, $2)`, [key, new Date(at)]),
    bareWriteLabel: 'single-row INSERT, same schema, pool of 10',
    recordWrite: (run) => pool.query(
      `INSERT INTO ${runsCopy} (${columns.map(snake).join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})`,
      Object.values(runToStored(run, d => d))),
    recordWriteLabel: 'INSERT of the record into a copy of the runs table (LIKE … INCLUDING ALL), pool of 10',
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
