/**
 * The Redis and PostgreSQL store options are typed by small interfaces of what the stores
 * call, so the published types need neither ioredis nor pg; the real drivers' clients must
 * still fit them (these two imports are the only place the tests name the drivers' types).
 */
import { Cluster, Redis } from 'ioredis'
import pg from 'pg'
import { describe, expect, test } from 'tstyche'
import { postgresStore, redisStore, type PostgresPool, type RedisClient, type Store } from '../../index.js'

describe('network stores', () => {
  test('a pg Pool is a PostgresPool', () => {
    expect<pg.Pool>().type.toBeAssignableTo<PostgresPool>()
    expect(postgresStore({ pool: new pg.Pool() })).type.toBe<Store>()
    expect(postgresStore).type.toBeCallableWith({ connectionString: 'postgres://127.0.0.1/db', schema: 'jobs' })
  })
  test('an ioredis Redis or Cluster is a RedisClient', () => {
    expect<Redis>().type.toBeAssignableTo<RedisClient>()
    expect<Cluster>().type.toBeAssignableTo<RedisClient>()
    expect(redisStore({ client: new Redis({ lazyConnect: true }) })).type.toBe<Store>()
    expect(redisStore).type.toBeCallableWith({ url: 'redis://127.0.0.1:6379', prefix: '{scheduler}:' })
  })
  test('something else is not', () => {
    expect(redisStore).type.not.toBeCallableWith({ client: { get () {} } })
    expect(postgresStore).type.not.toBeCallableWith({ pool: 'postgres://127.0.0.1/db' })
  })
})

describe('fastify-scheduler/store', () => {
  test('a store author finds the contract, the check and the coded error there', async () => {
    const store = await import('../../store.js')
    expect(store.whyNotAStore).type.toBe<(value: unknown) => string | undefined>()
    expect(store.storeUnavailable).type.toBe<(cause: unknown) => Error>()
    expect<import('../../store.js').Store>().type.toBe<Store>()
  })
  test('the root no longer carries the store-author helpers', async () => {
    const root = await import('../../index.js')
    expect(root).type.not.toHaveProperty('whyNotAStore')
    expect(root).type.not.toHaveProperty('pageOfRuns')
  })
})
