/**
 * A store named the way the multi-process fixtures receive it on their command line: a kind,
 * a location (SQLite file, Redis URL, PostgreSQL connection string) and a namespace (Redis
 * key prefix, PostgreSQL schema; unused for SQLite). Parent tests open the same store with it.
 */
import { postgresStore } from '../../plugin/stores/postgres/index.js'
import { redisStore } from '../../plugin/stores/redis/index.js'
import { sqliteStore } from '../../plugin/stores/sqlite/index.js'
import type { Store } from '../../plugin/stores/store.js'

export type StoreKind = 'sqlite' | 'redis' | 'postgres'

export function storeOf (kind: string, location: string, namespace: string): Store {
  if (kind === 'sqlite') return sqliteStore({ path: location })
  if (kind === 'redis') return redisStore({ url: location, prefix: namespace })
  if (kind === 'postgres') return postgresStore({ connectionString: location, schema: namespace })
  throw new Error(`unknown store kind "${kind}" (sqlite, redis or postgres)`)
}
