/**
 * fastify-scheduler: recurring tasks for Fastify. The package root re-exports the public API.
 */
export { fastifyScheduler, fastifyScheduler as default } from './plugin/index.js'
export { Task, defineTask } from './tasks/task.js'
export { compileSchedule } from './tasks/schedule.js'
export { parseDuration } from './tasks/duration.js'
export { memoryStore } from './plugin/stores/memory.js'
export { sqliteStore, type SqliteStoreOptions } from './plugin/stores/sqlite.js'
// Typed without ioredis and pg (optional peers): see plugin/network-stores.ts.
export { redisStore, postgresStore } from './plugin/network-stores.js'
export type {
  RedisStoreOptions, RedisClient, PostgresStoreOptions, PostgresPool, PostgresPoolClient, PostgresQueryResult
} from './plugin/network-stores.js'
export type {
  Store, StoreKind, RunRecord, RunStatus, TaskState, HistoryQuery, HistoryPage, ExpiredLease
} from './plugin/stores/store.js'
export type {
  SchedulerApi, SchedulerOptions, AuthOption, TaskInput, TickOptions, TickResult, RunOutcome,
  SchedulerListing, TaskListing
} from './plugin/types.js'
export type {
  TaskContext, TaskObject, TaskOptions, TaskRequestInfo, RunTrigger, Schedule, ScheduleDefinition,
  CompileScheduleOptions, RunEvery, RunAt, Duration, FastifyInstance
} from './tasks/types.js'
export {
  InvalidOptionError, MissingAuthError, DuplicateTaskError, UnknownTaskError, StoreUnavailableError
} from './plugin/errors.js'
export { InvalidTaskError, InvalidScheduleError } from './tasks/errors.js'
