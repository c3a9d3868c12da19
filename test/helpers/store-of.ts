/**
 * A store named the way the multi-process fixtures receive it on their command line: a kind,
 * a location (SQLite file, Redis URL, PostgreSQL connection string) and a namespace (Redis
 * key prefix, PostgreSQL schema; unused for SQLite). Parent tests open the same store with it.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { postgresStore } from '../../plugin/stores/postgres/index.js'
import { redisStore } from '../../plugin/stores/redis/index.js'
import { sqliteStore } from '../../plugin/stores/sqlite/index.js'
import type { Store } from '../../plugin/stores/store.js'
import { postgresService, redisService } from './services.js'

export type StoreKind = 'sqlite' | 'redis' | 'postgres'

export function storeOf (kind: string, location: string, namespace: string): Store {
  if (kind === 'sqlite') return sqliteStore({ path: location })
  if (kind === 'redis') return redisStore({ url: location, prefix: namespace })
  if (kind === 'postgres') return postgresStore({ connectionString: location, schema: namespace })
  throw new Error(`unknown store kind "${kind}" (sqlite, redis or postgres)`)
}

/**
 * A way to open one shared store of `kind` as many times as there are replicas: a SQLite file
 * in a fresh temp folder, or the test's own Redis prefix or PostgreSQL schema. Undefined when
 * the service is absent (the test is then skipped, saying why, by services.ts).
 */
export async function sharedStore (t: Test, kind: StoreKind, label: string): Promise<(() => Store) | undefined> {
  if (kind === 'sqlite') {
    const path = join(mkdtempSync(join(tmpdir(), `fst-${label}-`)), 'db.sqlite')
    return () => storeOf('sqlite', path, '')
  }
  if (kind === 'redis') {
    const redis = await redisService(t)
    return redis === undefined ? undefined : () => storeOf('redis', redis.url, redis.prefix)
  }
  const postgres = await postgresService(t)
  return postgres === undefined ? undefined : () => storeOf('postgres', postgres.connectionString, postgres.schema)
}
