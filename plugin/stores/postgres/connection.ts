/**
 * How the PostgreSQL store talks to the server: its own pool's options, client checkout
 * with an error listener, a deadline on every call, dead connections discarded, and the
 * fallback from prepared to unnamed statements behind a pooler that cannot keep them.
 * The faults this answers are in `docs/ARCHITECTURE.md#the-fault-model`.
 *
 * - Never an 'error' event escapes: our own pool has a listener, and every client the store
 *   checks out has one while the store holds it (attached on checkout, removed on release);
 *   a pool the user passes in needs its own listener for idle clients, as pg documents.
 * - Every call has a deadline (`timeout`): waiting for a client is raced against it, and
 *   each query carries pg's `query_timeout` for what is left of it (enforced on the client,
 *   so it also fires when the server is frozen or the network black-holes the packets, where
 *   the server-side `statement_timeout` never would).
 * - A client that met any error is released WITH it, so the pool discards it. That matters
 *   most for a query that timed out: pg leaves such a connection open with the query still
 *   in flight, and a pool given it back would hand the dead connection to the next call;
 *   released with the error, the pool ends it, and pg destroys the socket of a client whose
 *   query is still active.
 * - Our own pool keeps no connection idle longer than the timeout (`idleTimeoutMillis`) and
 *   turns TCP keepalive on. A connection to a host that went silent is therefore either in
 *   use (and discarded when its query times out), or idle (and closed within the timeout),
 *   or connecting (and dropped by `connectionTimeoutMillis`): a timeout after the host is
 *   healed or repointed, no call meets one. Keepalive lets the kernel drop such sockets,
 *   which pg would otherwise keep open half-closed for as long as the kernel retries.
 * - Named (prepared) statements behind PgBouncer in transaction mode (before 1.21) fail
 *   with "prepared statement … already exists" or "… does not exist": consecutive queries
 *   land on different server connections. Both errors come before the statement runs (at
 *   Parse or Bind), so the call is retried once unnamed, and the store uses unnamed
 *   statements from then on, warning once that `prepare: false` is the fix.
 */
import { createHash } from 'node:crypto'
import type pg from 'pg'
import { withStoreErrors, requireDriver } from '../driver.js'
import type { StoreInitContext } from '../store.js'

/** A query on a client checked out by `withClient`: bounded by the call's deadline. */
export type Query = <R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]) => Promise<pg.QueryResult<R>>

/** Statements longer than this are prepared (named) per connection: planning their CTEs costs more than running them. */
const PREPARE_ABOVE = 400
/** TCP keepalive's first probe after this much silence on a connection of our own pool. */
export const KEEPALIVE_DELAY_MS = 5000
/** Our own pool closes a connection idle this long (or the timeout, when shorter). */
export const MAX_IDLE_MS = 10_000
/** SQLSTATEs of a named statement a pooler lost or duplicated: the statement did not run. */
const PREPARED_STATEMENT_ERRORS = new Set(['42P05', '26000'])

const statementNames = new Map<string, string>()

/** A stable name for a prepared statement: `fastify_scheduler_` + a hash of its text (stores sharing a pool never collide). */
function statementName (text: string): string {
  let name = statementNames.get(text)
  if (name === undefined) {
    name = `fastify_scheduler_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`
    statementNames.set(text, name)
  }
  return name
}

/** The options of the pool the store opens from a connection string (see the header for why each). */
export function ownPoolOptions (connectionString: string, timeout: number): pg.PoolConfig {
  return {
    connectionString,
    connectionTimeoutMillis: timeout,
    query_timeout: timeout,
    idleTimeoutMillis: Math.min(timeout, MAX_IDLE_MS),
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS
  }
}

/** Open our own pool: pg is loaded only now (it is an optional peer). */
export function openPool (connectionString: string, timeout: number): pg.Pool {
  const { Pool } = requireDriver<typeof import('pg')>('pg', 'postgresStore')
  const pool = new Pool(ownPoolOptions(connectionString, timeout))
  // An idle client losing its connection emits 'error' on the pool; without a listener that
  // would crash the process. The next query reports the outage instead.
  pool.on('error', () => {})
  return pool
}

export interface Connection {
  /** Run `fn` on one checked-out client; every failure becomes FST_SCHEDULER_STORE_UNAVAILABLE. */
  withClient: <T>(fn: (query: Query) => Promise<T>, budget?: number) => Promise<T>
  /** One statement on one client: one round trip. */
  one: <R extends pg.QueryResultRow>(text: string, values?: unknown[]) => Promise<pg.QueryResult<R>>
  /** Where the one warning about prepared statements goes (the store's init context). */
  useLog: (log: StoreInitContext['log'] | undefined) => void
}

export function connection (pool: pg.Pool, timeout: number, prepare: boolean): Connection {
  let prepared = prepare
  let log: StoreInitContext['log'] | undefined

  function unprepare (err: unknown): void {
    if (!prepared) return
    prepared = false
    log?.warn({ err, sqlstate: (err as { code?: string }).code },
      'postgresStore: a prepared statement was lost between queries (PgBouncer in transaction mode before 1.21, ' +
      'or another pooler that does not keep prepared statements): using unnamed statements from now on. ' +
      'Pass prepare: false to postgresStore to say so up front.')
  }

  /**
   * Check out a client within `deadline` (a pool with every client busy or a server that
   * never answers the handshake would otherwise wait forever), `onError` listening on it
   * from the moment the pool hands it over. pg's callback form matters here: the pool calls
   * it synchronously, while the data that completed the handshake is still being parsed. A
   * promise would resume us a microtask later, after the rest of that data, and a backend
   * terminated just after its handshake would meet a client with no 'error' listener: a
   * process crash. A client that arrives after the deadline goes straight back to the pool.
   */
  async function checkout (deadline: number, onError: (err: Error) => void): Promise<pg.PoolClient> {
    return await new Promise((resolve, reject) => {
      let late = false
      const timer = setTimeout(() => {
        late = true
        reject(new Error(`no connection to PostgreSQL within ${timeout} ms`))
      }, Math.max(1, deadline - performance.now()))
      pool.connect((err, client, release) => {
        clearTimeout(timer)
        if (err !== undefined && err !== null) {
          reject(err)
        } else if (late) {
          release()
        } else {
          client!.on('error', onError)
          resolve(client!)
        }
      })
    })
  }

  async function withClient<T> (fn: (query: Query) => Promise<T>, budget = timeout): Promise<T> {
    return await withStoreErrors(async () => {
      const deadline = performance.now() + budget
      let broken: unknown
      const onError = (err: Error) => { broken ??= err }
      const client = await checkout(deadline, onError)
      const send = async <R extends pg.QueryResultRow>(text: string, values: unknown[] | undefined, named: boolean) =>
        await client.query<R>({
          text,
          values,
          ...(named ? { name: statementName(text) } : {}),
          // pg's client-side read timeout: fires even when the server is frozen.
          query_timeout: Math.max(1, Math.floor(deadline - performance.now()))
        } as pg.QueryConfig)
      const query: Query = async (text, values) => {
        const named = prepared && values !== undefined && text.length > PREPARE_ABOVE
        try {
          return await send(text, values, named)
        } catch (err) {
          if (named && PREPARED_STATEMENT_ERRORS.has((err as { code?: string }).code ?? '')) {
            // Failed at Parse or Bind: nothing ran, the connection is in a clean state.
            unprepare(err)
            try {
              return await send(text, values, false)
            } catch (again) {
              broken ??= again
              throw again
            }
          }
          // Whatever `fn` does with it, this client is not given back for reuse.
          broken ??= err
          throw err
        }
      }
      try {
        return await fn(query)
      } catch (err) {
        broken ??= err
        throw err
      } finally {
        client.removeListener('error', onError)
        client.release(broken === undefined ? undefined : broken instanceof Error ? broken : new Error(String(broken)))
      }
    })
  }

  return {
    withClient,
    one: async (text, values) => await withClient((query) => query(text, values)),
    useLog: (given) => { log = given }
  }
}
