/**
 * fastify-scheduler: recurring tasks for Fastify. The package root re-exports the public API.
 */
export { fastifyScheduler, fastifyScheduler as default } from './plugin.js'
export { Task, defineTask, type UnknownTaskProperty } from './tasks/task.js'
export { compileSchedule } from './tasks/schedule.js'
export { parseDuration } from './tasks/duration.js'
/**
 * In-process store, for tests and throwaway use (the listing says it is not durable).
 *
 * @example
 * ```ts
 * await app.register(fastifyScheduler, { dir: false, store: memoryStore(), auth: false, tasks: [prune] })
 * await app.ready()
 * await app.scheduler.tick(new Date('2026-05-12T17:00:00Z'))
 * ```
 */
export { memoryStore } from './plugin/stores/memory.js'
/**
 * The default store: an embedded SQLite file (WAL), safe for several processes on one host.
 *
 * @example
 * ```ts
 * const options: SqliteStoreOptions = { path: './data/scheduler.sqlite' }
 * await app.register(fastifyScheduler, { store: sqliteStore(options) })
 * ```
 */
export { sqliteStore, type SqliteStoreOptions } from './plugin/stores/sqlite/index.js'
// Typed without ioredis and pg (optional peers): see plugin/network-stores.ts.
export { redisStore, postgresStore } from './plugin/network-stores.js'
export type {
  RedisStoreOptions, RedisClient, PostgresStoreOptions, PostgresPool, PostgresPoolClient, PostgresQueryResult
} from './plugin/network-stores.js'
/**
 * The store a `store` option takes, and the run history `app.scheduler.history()` reads.
 * What a store author needs besides is in `fastify-scheduler/store` (`store.ts`).
 *
 * @example
 * ```ts
 * const page: HistoryPage = await app.scheduler.history({ task: ['prune'], status: ['failed'], limit: 20 })
 * const failed: RunRecord[] = page.runs
 * const statuses: RunStatus[] = failed.map(run => run.status)
 * const kind: string = app.scheduler.store.kind // 'memory', 'sqlite', 'redis', 'postgres' or a third party's
 * ```
 */
export type { Store, RunRecord, RunStatus, HistoryQuery, HistoryPage } from './plugin/stores/store.js'
/**
 * `app.scheduler`, the plugin's options and what ticks answer.
 *
 * @example
 * ```ts
 * const options: SchedulerOptions = { timezone: 'Europe/Berlin', auth: { tokens: [process.env.CRON_SECRET!] } satisfies AuthOption }
 * await app.register(fastifyScheduler, options)
 * await app.ready()
 * const api: SchedulerApi = app.scheduler
 * const result: TickResult = await api.tick({ now: new Date('2026-05-12T17:00:00Z') } satisfies TickOptions)
 * const outcomes: RunOutcome[] = await result.settled
 * const listing: SchedulerListing = await api.list()
 * const rows: TaskListing[] = listing.tasks
 * ```
 */
export type {
  SchedulerApi, SchedulerOptions, AuthOption, QstashOption, OidcOption, MetricsOptions, TaskInput, TickOptions, TickResult, RunOutcome,
  SchedulerListing, TaskListing, RunSummary, ListOptions, HealthReport,
  PauseOptions, ResumeOptions, PauseAnswer, ResumeAnswer, PausedInfo, BackfillOptions, BackfillAnswer, BackfillInfo
} from './plugin/types.js'
/**
 * Hooks on every run: `onRunStart` once its `running` record is written, `onRunEnd` once its
 * final record is. Bounded in time; a hook that throws or hangs never changes the run.
 *
 * @example
 * ```ts
 * app.scheduler.addHook('onRunEnd', async (run: RunRecord) => {
 *   if (run.status === 'failed') await app.mail.send({ to: 'ops@example.com', subject: `${run.task} failed`, text: run.error ?? '' })
 * })
 * ```
 */
export type { RunHook, RunHookName, PauseHook } from './plugin/hooks.js'
export type {
  TaskContext, TaskObject, TaskOptions, TaskRequestInfo, RunTrigger, RecordedTrigger, Schedule, ScheduleDefinition,
  CompileScheduleOptions, RunEvery, RunAt, Duration, RetryOptions, OverlapPolicy, FastifyInstance
} from './tasks/types.js'
/**
 * Every coded error (`FST_SCHEDULER_*`): the ones the plugin, `app.scheduler` and the stores
 * throw, and the ones the /_schedule routes answer with. Compare by class.
 *
 * @example
 * ```ts
 * await app.scheduler.run('prune').catch(err => {
 *   if (err instanceof StoreUnavailableError) return app.log.warn(err.message)
 *   throw err
 * })
 * ```
 */
export {
  InvalidOptionError, MissingAuthError, DuplicateTaskError, InvalidTaskError, InvalidScheduleError, TooLateError,
  UnknownTaskError, StoreUnavailableError, StoreOpenError, ClosedError,
  InvalidInputError, InvalidPayloadError, PayloadTooLargeError, UnsupportedBodyError, UnauthorizedError, MethodNotAllowedError, NotFoundError, BadRequestError, InternalError
} from './core/errors.js'
