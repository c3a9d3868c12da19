/**
 * fastify-scheduler: recurring tasks for Fastify. The package root re-exports the public API.
 */
export { fastifyScheduler, fastifyScheduler as default } from './plugin/index.js'
export { Task, defineTask } from './tasks/task.js'
export { compileSchedule } from './tasks/schedule.js'
export { parseDuration } from './tasks/duration.js'
export { memoryStore, sqliteStore, redisStore, postgresStore } from './plugin/stores/index.js'
export type { SqliteStoreOptions, RedisStoreOptions, PostgresStoreOptions } from './plugin/stores/index.js'
export type {
  Store, RunRecord, RunStatus, FinalStatus, TaskState, HistoryQuery, HistoryPage, PendingRetry, StartClaim,
  StartRunRequest, StartRunResult, FinishRunOptions, TaskRetry, ClusterState, StoreInitContext
} from './plugin/stores/store.js'
export { STORE_METHODS, whyNotAStore } from './plugin/stores/store.js'
export { compareRunsNewestFirst, pageOfRuns, pruneVictims, overlapRecord, SETTLED_STATUSES } from './plugin/stores/history.js'
export { storeUnavailable } from './plugin/errors.js'
export type {
  SchedulerApi, SchedulerOptions, AuthOption, TaskInput, TickOptions, TickResult, RunOutcome,
  SchedulerListing, TaskListing, RunSummary, ListOptions, HealthReport
} from './plugin/types.js'
export type { RunHook, RunHookName } from './plugin/hooks.js'
export type {
  TaskContext, TaskObject, TaskOptions, TaskRequestInfo, RunTrigger, Schedule, ScheduleDefinition,
  CompileScheduleOptions, RunEvery, RunAt, Duration, RetryOptions, FastifyInstance
} from './tasks/types.js'
export {
  InvalidOptionError, MissingAuthError, DuplicateTaskError, UnknownTaskError, StoreUnavailableError
} from './plugin/errors.js'
export { InvalidTaskError, InvalidScheduleError } from './tasks/errors.js'
