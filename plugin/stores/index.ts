/** The stores: one contract (`store.ts`), four implementations. */
export * from './store.js'
export { memoryStore } from './memory.js'
export { sqliteStore, type SqliteStoreOptions } from './sqlite.js'
export { redisStore, type RedisStoreOptions } from './redis.js'
export { postgresStore, type PostgresStoreOptions } from './postgres.js'
