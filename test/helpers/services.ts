/**
 * The real Redis and Postgres servers the store tests run against, and per-test isolation
 * (a random Redis key prefix, a random Postgres schema) so test files running in parallel
 * never share state.
 *
 * When a server does not answer, its tests are skipped with one line saying why, unless
 * SCHEDULER_REQUIRE_SERVICES=1 (CI), where a missing server fails the run.
 */
import { randomBytes } from 'node:crypto'
import { Socket, createServer } from 'node:net'
import { Redis } from 'ioredis'
import pg from 'pg'
import type { Test } from 'tap'

export const redisUrl = (): string => process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
export const postgresUrl = (): string => process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/**
 * How long a probe waits for a server that is listening but slow to answer. A server that is
 * down refuses the connection at once, so this only matters when it is up: on a loaded CI
 * machine (52 test processes on 2 cores) a PostgreSQL backend once took over 1.5 s to start,
 * and the file failed as if the server were missing.
 */
const PROBE_TIMEOUT_MS = 15_000

/** Why Redis cannot be used, or undefined when it answers PING. */
export async function probeRedis (url = redisUrl()): Promise<string | undefined> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: PROBE_TIMEOUT_MS, maxRetriesPerRequest: 0, retryStrategy: () => null })
  let reason: string | undefined
  client.on('error', (err: Error) => { reason ??= err.message })
  try {
    await client.connect()
    await client.ping()
    return undefined
  } catch (err) {
    return `Redis not reachable at ${url} (${reason ?? (err as Error).message}); set REDIS_URL or start redis-server`
  } finally {
    client.disconnect()
  }
}

/** Why Postgres cannot be used, or undefined when it answers `SELECT 1`. */
export async function probePostgres (connectionString = postgresUrl()): Promise<string | undefined> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: PROBE_TIMEOUT_MS })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query('SELECT 1')
    return undefined
  } catch (err) {
    return `Postgres not reachable at ${connectionString} (${(err as Error).message}); set DATABASE_URL or start postgres`
  } finally {
    await client.end().catch(() => {})
  }
}

/**
 * Tap options for a test that needs a service: `{}` when it is up, `{ skip: reason }` when
 * it is down, and a thrown error (failing the file) when SCHEDULER_REQUIRE_SERVICES=1.
 */
export function needs (problem: string | undefined): { skip?: string } {
  if (problem === undefined) return {}
  if (process.env.SCHEDULER_REQUIRE_SERVICES === '1') {
    throw new Error(`${problem} (SCHEDULER_REQUIRE_SERVICES=1, so this fails instead of skipping)`)
  }
  return { skip: problem }
}

/**
 * Inside a running test: true when the service is down. Then the test fails (with
 * SCHEDULER_REQUIRE_SERVICES=1) or records one skipped line saying why.
 */
function reportUnavailable (t: Test, problem: string | undefined): boolean {
  if (problem === undefined) return false
  if (process.env.SCHEDULER_REQUIRE_SERVICES === '1') t.fail(`${problem} (SCHEDULER_REQUIRE_SERVICES=1)`)
  else t.pass('needs a server', { skip: problem })
  return true
}

export interface RedisService { url: string, prefix: string }

/**
 * Redis for one test: its URL and a key prefix of its own, whose keys are deleted when the
 * test ends. Undefined (test skipped or failed, see `reportUnavailable`) when Redis is down.
 */
export async function redisService (t: Test): Promise<RedisService | undefined> {
  if (reportUnavailable(t, await probeRedis())) return undefined
  const service = { url: redisUrl(), prefix: uniqueRedisPrefix() }
  t.teardown(async () => {
    const client = new Redis(service.url)
    try {
      await deleteRedisKeys(client, service.prefix)
    } finally {
      await client.quit()
    }
  })
  return service
}

export interface PostgresService { connectionString: string, schema: string }

/**
 * Postgres for one test: the connection string and a schema of its own, dropped when the
 * test ends. Undefined (test skipped or failed) when Postgres is down.
 */
export async function postgresService (t: Test): Promise<PostgresService | undefined> {
  if (reportUnavailable(t, await probePostgres())) return undefined
  const connectionString = postgresUrl()
  const pool = new pg.Pool({ connectionString, max: 1 })
  const { schema, drop } = await createSchema(pool)
  t.teardown(async () => {
    try {
      await drop()
    } finally {
      await pool.end()
    }
  })
  return { connectionString, schema }
}

/** A random suffix for names that must not collide between tests. */
export function uniqueName (label: string): string {
  return `${label}_${randomBytes(6).toString('hex')}`
}

/** A Redis key prefix no other test uses. */
export function uniqueRedisPrefix (): string {
  return `fastify-scheduler-test:${uniqueName('t')}:`
}

/** Delete every key under `prefix` (never the whole database: other files share it). */
export async function deleteRedisKeys (client: Redis, prefix: string): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
    if (keys.length > 0) await client.del(...keys)
    cursor = next
  } while (cursor !== '0')
}

/** A Postgres schema for one test: create it, and drop it (cascade) when done. */
export async function createSchema (pool: pg.Pool, label = 'fs_test'): Promise<{ schema: string, drop: () => Promise<void> }> {
  const schema = uniqueName(label)
  await pool.query(`CREATE SCHEMA ${pg.escapeIdentifier(schema)}`)
  return { schema, drop: async () => { await pool.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`) } }
}

/** A TCP port nothing listens on right now (bound and released at once). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
export async function isListening (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = new Socket()
    socket.setTimeout(500)
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('timeout', () => { socket.destroy(); resolve(false) })
    socket.once('error', () => resolve(false))
    socket.connect(port, '127.0.0.1')
  })
}
