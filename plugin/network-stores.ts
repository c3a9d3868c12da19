/**
 * The Redis and PostgreSQL stores as the package root publishes them.
 *
 * ioredis and pg are optional peers, so the published types must compile (with
 * `skipLibCheck: false`) for a user who has neither installed. The options therefore name
 * small interfaces of what the stores call on a client or pool the user passes in, not the
 * drivers' own types; an ioredis `Redis` or `Cluster` and a pg `Pool` satisfy them
 * (test/types/stores.tst.ts checks that against the real drivers).
 */
import { postgresStore as postgresStoreOnPg, type PostgresStoreOptions as PgStoreOptions } from './stores/postgres/index.js'
import { redisStore as redisStoreOnIoredis, type RedisStoreOptions as IoredisStoreOptions } from './stores/redis/index.js'
import type { Store } from './stores/store.js'

/**
 * What the PostgreSQL store reads from a query's result (a pg `QueryResult` has it).
 *
 * @example
 * ```ts
 * const { rows, rowCount }: PostgresQueryResult = await pool.query('SELECT 1')
 * ```
 */
export interface PostgresQueryResult {
  rows: unknown[]
  rowCount: number | null
}

/**
 * A client checked out of a pool, used for one transaction and released (a pg `PoolClient`).
 *
 * @example
 * ```ts
 * const client: PostgresPoolClient = await pool.connect()
 * try { await client.query('BEGIN'); await client.query('COMMIT') } finally { client.release() }
 * ```
 */
export interface PostgresPoolClient {
  query (text: string, values?: unknown[]): Promise<PostgresQueryResult>
  release (err?: Error | boolean): void
  /** The store listens for `'error'` while it holds the client, so a dropped connection is an error, never a crash. */
  on (event: 'error', listener: (err: Error) => void): unknown
  removeListener (event: 'error', listener: (err: Error) => void): unknown
}

/**
 * What the PostgreSQL store calls on a pool you pass in (a pg `Pool` has all of it).
 *
 * @example
 * ```ts
 * import pg from 'pg'
 * const pool: PostgresPool = new pg.Pool({ connectionString: process.env.DATABASE_URL })
 * ```
 */
export interface PostgresPool {
  query (text: string, values?: unknown[]): Promise<PostgresQueryResult>
  /** The store checks clients out with the callback form, so its error listener is on before anything else can happen. */
  connect (callback: (err: Error | undefined, client: PostgresPoolClient | undefined, release: (release?: any) => void) => void): void
}

/**
 * Options of `postgresStore`: a pool or a connection string, and where the tables live.
 *
 * @example
 * ```ts
 * postgresStore({ connectionString: process.env.DATABASE_URL, schema: 'jobs', tablePrefix: 'sched_' })
 * ```
 */
export interface PostgresStoreOptions {
  /** A pool you manage (a pg `Pool`): the store never ends it. */
  pool?: PostgresPool
  /** Or a connection string the store opens its own pool with (and ends on close); needs `pg` installed. */
  connectionString?: string
  /** Schema of the tables, default `public`; created at init if missing. */
  schema?: string
  /** Prefix of the table names, default `fastify_scheduler_`. */
  tablePrefix?: string
  /** How long one store call may take (waiting for a connection included): ms or a duration string (`'5 seconds'`); default 5000. */
  timeout?: number | string
  /**
   * Prepare the long statements once per connection (default true); false behind PgBouncer's
   * transaction mode before 1.21 (left true there, the store falls back to unnamed statements
   * at the first lost one and warns once).
   */
  prepare?: boolean
}

/**
 * What the Redis store calls on a client you pass in (an ioredis `Redis` or `Cluster` has
 * it): it defines its Lua scripts once, then calls them as commands.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis'
 * const client: RedisClient = new Redis(process.env.REDIS_URL!)
 * ```
 */
export interface RedisClient {
  defineCommand (name: string, definition: { lua: string, numberOfKeys?: number }): void
  /** True on an ioredis `Cluster`: the store then insists on a hash-tag prefix. */
  readonly isCluster?: boolean
}

/**
 * Options of `redisStore`: a client or a URL, and the key prefix.
 *
 * @example
 * ```ts
 * redisStore({ url: process.env.REDIS_URL, prefix: '{scheduler}:' }) // a hash tag keeps Cluster keys in one slot
 * ```
 */
export interface RedisStoreOptions {
  /** A client you manage (an ioredis `Redis` or `Cluster`): the store defines its scripts on it and never closes it. */
  client?: RedisClient
  /** Or a URL the store connects to (and disconnects from on close); needs `ioredis` installed. */
  url?: string
  /** Prefix of every key, default `fastify-scheduler:`; on Redis Cluster it must hold a hash tag (`{scheduler}:`). */
  prefix?: string
  /**
   * Command timeout of the client the store creates from `url`, in ms or a duration string
   * (`'5 seconds'`); default 5000. A connection silent that long is replaced.
   */
  timeout?: number | string
  /**
   * Count a claim only once this many replicas acknowledged it (`WAIT` after every claiming
   * script, in the same round trip); fewer fail the call as the store being unavailable. Off by default.
   */
  waitReplicas?: number
  /** How long to wait for `waitReplicas`, in ms or a duration string; default 1000. */
  waitTimeout?: number | string
}

/**
 * A store in PostgreSQL (pg), for several replicas sharing one database. Each claim is one
 * conditional upsert, so exactly one replica runs an occurrence.
 *
 * @example
 * ```ts
 * import pg from 'pg'
 * import fastifyScheduler, { postgresStore } from 'fastify-scheduler'
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL })
 * await app.register(fastifyScheduler, { store: postgresStore({ pool }) })
 * // or let the store open (and close) its own pool:
 * await app.register(fastifyScheduler, { store: postgresStore({ connectionString: process.env.DATABASE_URL }) })
 * ```
 */
export function postgresStore (options: PostgresStoreOptions): Store {
  return postgresStoreOnPg(options as PgStoreOptions)
}

/**
 * A store in Redis (ioredis), for several replicas sharing one Redis. Every read-then-write
 * is one Lua script, so Redis runs it atomically.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis'
 * import fastifyScheduler, { redisStore } from 'fastify-scheduler'
 *
 * await app.register(fastifyScheduler, { store: redisStore({ client: new Redis(process.env.REDIS_URL) }) })
 * // or let the store connect (and disconnect) itself:
 * await app.register(fastifyScheduler, { store: redisStore({ url: 'redis://127.0.0.1:6379' }) })
 * ```
 */
export function redisStore (options: RedisStoreOptions): Store {
  return redisStoreOnIoredis(options as IoredisStoreOptions)
}
