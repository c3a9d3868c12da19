/**
 * The task model's public types: schedule attributes, per-task options and the context a
 * task's `handle` receives. Runtime validation lives in `schedule.ts` and `resolve.ts`;
 * these types let the editor catch what it can before the boot does.
 */
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { Static, TSchema } from 'typebox'

type Unit = 'minute' | 'minutes' | 'hour' | 'hours' | 'day' | 'days' | 'month' | 'months'
type AnyCase<U extends string> = U | Capitalize<U> | Uppercase<U>

/**
 * `runEvery` value: `'N unit'` with unit minute(s), hour(s), day(s) or month(s).
 * The runtime also accepts any case and extra spaces; the type accepts the usual spellings,
 * so `'3 dayz'` is a type error in the object form.
 *
 * @example
 * ```ts
 * const every: RunEvery = '7 minutes' // :00, :07 … :56, then :00 again
 * ```
 */
export type RunEvery = `${number} ${AnyCase<Unit>}`

type Digit = '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9'
type Hour24 = Digit | `0${Digit}` | `1${Digit}` | '20' | '21' | '22' | '23'
type Minute60 = `${'0' | '1' | '2' | '3' | '4' | '5'}${Digit}`

/**
 * `runAt` value: 24-hour `'H:MM'` or `'HH:MM'` (`'5:30'`, `'17:00'`).
 *
 * @example
 * ```ts
 * const at: RunAt = '17:00' // '5pm' and '25:00' are type errors
 * ```
 */
export type RunAt = `${Hour24}:${Minute60}`

type DurationUnit =
  | 'ms' | 'millisecond' | 'milliseconds'
  | 'second' | 'seconds' | 'minute' | 'minutes' | 'hour' | 'hours' | 'day' | 'days'

/**
 * A duration such as `'10 minutes'`, `'30 seconds'`, `'2 hours'`, or a number of milliseconds.
 *
 * @example
 * ```ts
 * defineTask({ runEveryHour: true, timeout: '5 minutes', catchUp: '15 minutes', handle () {} })
 * ```
 */
export type Duration = `${number} ${AnyCase<DurationUnit>}` | number

/**
 * Schedule attributes (docs/ARCHITECTURE.md#dst-and-schedules). All are off by default; a task with none is manual only.
 * At most one schedule family may be used: `runEvery` (+ `runAt`), `runAt` alone,
 * `runEveryHour`, `runEveryMinute`, `twiceDaily` or `cron`.
 *
 * @example
 * ```ts
 * const nightly: ScheduleDefinition = { runAt: '02:30' }
 * const billing: ScheduleDefinition = { runEvery: '3 days', runAt: '17:00' }
 * const weekdays: ScheduleDefinition = { cron: '0 9 * * MON-FRI' }
 * ```
 */
export interface ScheduleDefinition {
  /** `'N unit'`: calendar-aligned by modulus (`'7 minutes'` runs :00, :07 … :56). */
  runEvery?: RunEvery
  /** `'HH:MM'`: time of day; alone it means daily at that time. Ignored (with a warning) for minute/hour schedules. */
  runAt?: RunAt
  /** Minute 0 of every hour. */
  runEveryHour?: boolean
  /** Every minute. */
  runEveryMinute?: boolean
  /** At h1:00 and h2:00, two distinct hours 0–23. */
  twiceDaily?: readonly [number, number]
  /**
   * A standard 5-field cron expression (minute hour day-of-month month day-of-week, Vixie
   * cron semantics, names such as MON and JAN, nicknames such as `@daily`; no seconds, L, W,
   * # or ?). When the hour field allows the hours of `*` or `*\/N`, however written (`0-23`,
   * `0,1-23`), it follows elapsed time across DST changes, like minute and hour schedules;
   * otherwise the wall clock.
   */
  cron?: string
}

/**
 * Per-task options beside the schedule (docs/ARCHITECTURE.md#tasks).
 *
 * @example
 * ```ts
 * defineTask({
 *   name: 'import-xml',
 *   runAt: '03:00',
 *   timezone: 'America/New_York',
 *   timeout: '30 minutes',
 *   catchUp: '2 hours',   // a later tick still runs it; after 05:00 it is recorded missed
 *   overlap: 'bufferOne',
 *   enabled: process.env.IMPORT_ENABLED !== '0',
 *   async handle ({ app }) { await app.importer.run() }
 * })
 * ```
 */
export interface TaskOptions extends ScheduleDefinition {
  /** Unique task name; default: the file name in kebab-case. */
  name?: string
  /** IANA time zone the schedule is read in; default: the plugin's `timezone`, else the process's zone. */
  timezone?: string
  /** When the run's `signal` fires and the run is recorded `timed_out`. Default `'10 minutes'`. */
  timeout?: Duration
  /**
   * `true` (default): a late or missed ping still runs the latest occurrence once.
   * `false`: run only if the tick falls in the occurrence's minute.
   * A duration: run if the tick is at most that late; otherwise the occurrence is recorded `missed`.
   */
  catchUp?: boolean | Duration
  /**
   * What happens when an occurrence falls due while the previous run still holds the task's
   * lease (docs/OVERLAP.md). Default: the plugin's `overlap`, else `'skip'`.
   * - `'skip'`: the occurrence is recorded `skipped` (`overlap`).
   * - `'bufferOne'`: it is remembered in the store (one at most) and runs as soon as the
   *   running one ends, on whichever replica.
   * - `'cancelOther'`: the running run's `ctx.signal` aborts with reason `"superseded"` (it is
   *   recorded `cancelled`), then the new one runs.
   * - `'allow'`: both run side by side.
   */
  overlap?: OverlapPolicy
  /**
   * @deprecated use `overlap: 'allow'` (true) or `overlap: 'skip'` (false); a warning at boot
   * names the task file.
   */
  allowOverlap?: boolean
  /** Default true. A disabled task is listed but never runs, not even forced. */
  enabled?: boolean
  /**
   * Re-run a failed, timed-out or abandoned run: up to `attempts` runs in all (the first
   * included), `delay` after the failure (default `'1 minute'`), driven by ticks and claimed
   * exactly once across replicas. Default: the plugin's `retries`, else none.
   */
  retries?: RetryOptions | false
  /**
   * A heartbeat URL (Healthchecks.io convention, also Cronitor and Better Stack): the
   * scheduler requests `<url>/start` when a run starts, `<url>` when it succeeds and
   * `<url>/fail` when it fails; short timeout, a few retries, never changes the run.
   */
  heartbeat?: string
  /**
   * After this many failed, timed-out or abandoned runs in a row, the task pauses itself for
   * every replica (docs/PAUSE.md), with a reason naming the last error; the `onPause` hook
   * and the heartbeat URL (`/fail`) report it. A whole number from 1. Default: the plugin's
   * `pauseOnFailure`, else never; `false`: never, whatever the plugin says.
   */
  pauseOnFailure?: number | false
  /**
   * The JSON Schema (a TypeBox type or a plain schema object) of the payload a forced run may
   * carry (`POST <prefix>/run` `{ task, payload }`, `app.scheduler.run(name, { payload })`):
   * checked before anything runs, then given to `handle` as `ctx.payload`
   * (docs/PAYLOADS.md#payloads). Without it the task takes no payload.
   */
  payload?: PayloadSchema
}

/** A task's `payload` schema: a TypeBox type (which also types `ctx.payload`) or a plain JSON Schema object. */
export type PayloadSchema = TSchema | Readonly<Record<string, unknown>>

/**
 * The type of `ctx.payload` a payload schema gives: `Static<S>` for a TypeBox type or a plain
 * schema literal TypeBox can read (`defineTask` infers it as a constant), else `unknown`.
 */
export type PayloadOf<S> = S extends TSchema ? Static<S> : unknown

/** How a task's failed runs are retried. */
export interface RetryOptions {
  /** Runs in all, the first included (2 = one retry); 2 to 100. */
  attempts: number
  /** Wait after a failure before the retry is due; default `'1 minute'`. */
  delay?: Duration
}

/**
 * What started a run (docs/PAYLOADS.md#triggers): `http` the trigger route, `ui` the
 * dashboard's "Run now", `cli` the CLI's `run`, `work` its `work` loop, `api` a call to
 * `app.scheduler.tick()` / `run()`, `backfill` a backfill of past occurrences.
 *
 * @example
 * ```ts
 * defineTask({ runEveryMinute: true, handle ({ trigger, log }) { if (trigger === 'api') log.debug('from a test') } })
 * ```
 */
/** What a due occurrence does while the previous run still holds the lease (docs/OVERLAP.md). */
export type OverlapPolicy = 'skip' | 'bufferOne' | 'cancelOther' | 'allow'

/** Every overlap policy, in the order error messages list them. */
export const OVERLAP_POLICIES: readonly OverlapPolicy[] = ['skip', 'bufferOne', 'cancelOther', 'allow']

export type RunTrigger = 'http' | 'ui' | 'cli' | 'work' | 'api' | 'backfill'

/**
 * A run record's trigger: a `RunTrigger`, or `'manual'`, which records written before
 * `'api'` existed carry (read-only: nothing records it any more).
 */
export type RecordedTrigger = RunTrigger | 'manual'

/**
 * A request-like record of the HTTP request that triggered a run, with every credential removed.
 *
 * @example
 * ```ts
 * defineTask({
 *   runEveryMinute: true,
 *   handle ({ request, log }) { if (request !== undefined) log.info({ ip: request.ip, url: request.url }, 'pinged') }
 * })
 * ```
 */
export interface TaskRequestInfo {
  id: string
  ip: string
  method: string
  /** The URL with secrets (such as `token=`) removed from its query string. */
  url: string
  /** Request headers without `authorization`, `cookie`, `proxy-authorization` or `x-api-key`. */
  headers: Record<string, string | string[] | undefined>
}

/**
 * Everything a task's `handle` receives.
 *
 * @example
 * ```ts
 * defineTask({
 *   runEvery: '3 days',
 *   async handle ({ app, log, runId, scheduledFor, signal }: TaskContext) {
 *     const res = await fetch(`${app.config.billingUrl}/sync?since=${scheduledFor.toISOString()}`, { signal })
 *     log.info({ runId, status: res.status }, 'synced')
 *   }
 * })
 * ```
 */
export interface TaskContext<P = unknown> {
  /** The Fastify instance the plugin was registered on: every decorator is usable. */
  app: FastifyInstance
  /** A child logger bound to `{ task, runId }`. */
  log: FastifyBaseLogger
  /** Unique id of this run, as in the run history. */
  runId: string
  /** The task's name. */
  task: string
  /** The occurrence being run (for forced runs: the minute the run was forced). */
  scheduledFor: Date
  /** What started the run. */
  trigger: RunTrigger
  /** True when the run was forced (`force`), ignoring the schedule. */
  forced: boolean
  /**
   * Fires on timeout, shutdown, or when the run lost its lease (another process may now run
   * the task); its `reason` says which. Pass it to fetch, database drivers and timers.
   */
  signal: AbortSignal
  /** 1 for the first run of an occurrence, 2 for its first retry, and so on. */
  attempt: number
  /**
   * The fencing token of the run's lease: larger for every later holder of any lease, so a
   * task can refuse writes from a run that lost its lease (store it beside the data it writes
   * and reject a write carrying a smaller one).
   */
  leaseToken: number
  /** The triggering HTTP request, or `undefined` when none did. */
  request: TaskRequestInfo | undefined
  /**
   * The payload the run was forced with, already checked against the task's `payload`
   * schema, or `undefined` (scheduled runs, runs forced without one; docs/PAYLOADS.md#payloads).
   */
  payload: P | undefined
}

/**
 * The object form of a task, as passed to `defineTask` (or given as a plain object in `tasks`).
 *
 * @example
 * ```ts
 * const prune: TaskObject = { runEveryHour: true, async handle ({ app }) { await app.db.pruneSessions() } }
 * ```
 */
export interface TaskObject<P = unknown> extends TaskOptions {
  handle (ctx: TaskContext<P>): unknown
  /** Called after a successful run's record is written; a throw or hang is logged, bounded, and changes nothing. */
  onSuccess? (ctx: TaskContext<P>): unknown
  /** Called after a failed or timed-out run's record is written, with what `handle` threw. */
  onFailure? (ctx: TaskContext<P>, error: unknown): unknown
}

/**
 * A compiled schedule (see `compileSchedule`). All instants are UTC `Date`s.
 *
 * @example
 * ```ts
 * const schedule: Schedule = compileSchedule({ twiceDaily: [1, 13] }, { timezone: 'UTC' })
 * schedule.matches(new Date('2026-05-12T13:00:30Z'))  // true: seconds never matter
 * schedule.previous(new Date('2026-05-12T12:00:00Z')) // 2026-05-12T01:00:00.000Z
 * ```
 */
export interface Schedule {
  /** True when an occurrence lies in the minute of `date`. */
  matches (date: Date): boolean
  /** The first occurrence strictly after `after` (a whole minute), or undefined for a manual-only schedule. */
  next (after: Date): Date | undefined
  /** The latest occurrence at or before `atOrBefore`, or undefined. */
  previous (atOrBefore: Date): Date | undefined
  /** English description: "every 3 days at 17:00 (Europe/Berlin)". */
  describe (): string
  /** The equivalent 5-field cron expression, where one exists. */
  readonly cron: string | undefined
  /** The IANA zone the schedule is read in. */
  readonly timezone: string
  /** True when the task has no schedule attribute and runs only when forced. */
  readonly manual: boolean
}

/**
 * Options of `compileSchedule`.
 *
 * @example
 * ```ts
 * compileSchedule({ runEvery: '5 minutes', runAt: '17:00' }, {
 *   timezone: 'Europe/Berlin',
 *   source: 'tasks/poll.ts',
 *   warn: message => app.log.warn(message) // runAt is ignored with a minute schedule
 * })
 * ```
 */
export interface CompileScheduleOptions {
  /** IANA time zone; default: the process's local zone. */
  timezone?: string | undefined
  /** Called with a message for accepted-but-ignored input (`runAt` with a minute schedule); default `process.emitWarning`. */
  warn?: ((message: string) => void) | undefined
  /** Names the source in error messages, e.g. a file path. */
  source?: string | undefined
}

/** A task after validation: what the scheduler runs. */
export interface ResolvedTask {
  name: string
  /** Where the task came from: a file path, or `options.tasks[i]`. */
  source: string
  schedule: Schedule
  timezone: string
  timeoutMs: number
  /** How late a tick may be and still run the occurrence: Infinity (true), 0 (false: same minute only) or ms. */
  catchUpMs: number
  /** The overlap policy in force (the task's, else the plugin's, else `'skip'`). */
  overlap: OverlapPolicy
  enabled: boolean
  /** Resolved retry policy, or undefined when the task takes the plugin's (see `retries: false` for none). */
  retries: { attempts: number, delayMs: number } | false | undefined
  heartbeat: URL | undefined
  /** Failures in a row that pause the task; false: never; undefined: the plugin's. */
  pauseOnFailure: number | false | undefined
  /** The compiled `payload` schema, or undefined when the task takes no payload. */
  payload: PayloadCheck | undefined
  handle: (ctx: TaskContext) => Promise<unknown>
  onSuccess: ((ctx: TaskContext) => Promise<unknown>) | undefined
  onFailure: ((ctx: TaskContext, error: unknown) => Promise<unknown>) | undefined
}

/** A compiled payload schema: `check` returns undefined for a valid payload, else what is wrong (naming the field). */
export interface PayloadCheck {
  check (value: unknown): string | undefined
}

/**
 * Re-exported for task authors: the type of the app a task class receives.
 *
 * @example
 * ```ts
 * import { Task, type FastifyInstance } from 'fastify-scheduler'
 * export default class Report extends Task {
 *   runAt = '06:00'
 *   constructor (private readonly app: FastifyInstance) { super() }
 *   async handle () { this.app.log.info('report') }
 * }
 * ```
 */
export type { FastifyInstance }
