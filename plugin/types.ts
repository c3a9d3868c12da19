/**
 * Public types of the scheduler (`app.scheduler`) and the plugin's options.
 */
import type { FastifyRequest } from 'fastify'
import type { Registry } from 'prom-client'
import type { Task, TaskClass } from '../tasks/task.js'
import type { RunTrigger, TaskObject, TaskRequestInfo } from '../tasks/types.js'
import type { Duration, OverlapPolicy, RetryOptions } from '../tasks/types.js'
import type { PauseHook, RunHook, RunHookName } from './hooks.js'
import type { Static } from 'typebox'
import type { BackfillAnswerSchema, BackfillSchema, HealthAnswer, ListingAnswer, Outcome, PauseAnswerSchema, PausedSchema, ResumeAnswerSchema, RunSummarySchema, TaskListingSchema } from './schemas.js'
import type { HistoryPage, HistoryQuery, Store } from './stores/store.js'

// The answers' types are derived from their schemas (plugin/schemas.ts), the one definition
// the routes serialize with.

/** What happened to one task in a tick or forced run. */
export type RunOutcome = Static<typeof Outcome>

/** A run as the listing shows it. */
export type RunSummary = Static<typeof RunSummarySchema>

/** One row of the listing (`GET /_schedule`, `list()`). */
export type TaskListing = Static<typeof TaskListingSchema>

/** The listing: `GET /_schedule` and `list()`. */
export type SchedulerListing = Static<typeof ListingAnswer>

/** What `/health` answers; `healthy` (not sent) decides 200 or 503. */
export type HealthReport = Static<typeof HealthAnswer> & { healthy: boolean }

/** A pause in force as the listing shows it. */
export type PausedInfo = Static<typeof PausedSchema>

/** What `pause()` answers. */
export type PauseAnswer = Static<typeof PauseAnswerSchema>

/** What `resume()` answers. */
export type ResumeAnswer = Static<typeof ResumeAnswerSchema>

/** A backfill and its progress (docs/PAYLOADS.md#backfills). */
export type BackfillInfo = Static<typeof BackfillSchema>

/** What `backfill()` answers. */
export type BackfillAnswer = Static<typeof BackfillAnswerSchema>

/** Options of `pause()` (docs/PAUSE.md). */
export interface PauseOptions {
  /** Why, shown in the listing and the dashboard (at most 500 characters). */
  reason?: string
  /** Who paused (an operator's name; the CLI says `cli`). At most 500 characters. */
  by?: string
  /** The instant the pause begins (default: the clock's now); tests pass it as they pass it to `tick()`. */
  now?: Date
}

/** Options of `backfill()` (docs/PAYLOADS.md#backfills). */
export interface BackfillOptions {
  /** The range's first instant: occurrences at or after it are run. */
  from: Date
  /** The range's last instant (not after now): occurrences at or before it are run. */
  to: Date
  /** The instant the range is checked against (default: the clock's now); tests pass it as they pass it to `tick()`. */
  now?: Date
}

/** Options of `resume()` (docs/PAUSE.md). */
export interface ResumeOptions {
  /**
   * `false` (default): the occurrences owed during the pause are recorded as one `skipped`
   * run and not run. `true`: the latest owed occurrence runs once now, as catch-up does
   * (within the task's `catchUp`; later than it, it is recorded `missed`); older ones are skipped.
   */
  catchUp?: boolean
  /** The instant of the resume (default: the clock's now); tests pass it as they pass it to `tick()`. */
  now?: Date
}

/** The answer of a tick. `runs` lists only tasks something happened to. */
export interface TickResult {
  /** ISO instant the tick was computed for. */
  now: string
  runs: RunOutcome[]
  /**
   * Due tasks that did not start because the store failed (with the store's error): nothing
   * moved in the store for them, and the next tick runs them. The trigger answers 503 when
   * this is not empty. (When every due task failed, `tick()` rejects instead.)
   */
  unavailable: Array<{ task: string, error: string }>
  /** Promise that settles when every run started by this tick has finished (never rejects). */
  settled: Promise<RunOutcome[]>
}

export interface TickOptions {
  /** The instant to tick at (default: the clock's now). Seconds are ignored. */
  now?: Date
  /** Only these tasks (unknown names reject with an `FST_SCHEDULER_UNKNOWN_TASK` error). */
  tasks?: readonly string[]
  /** Run the named tasks (or all enabled tasks if none named) now, ignoring their schedule. */
  force?: boolean
  trigger?: RunTrigger
  /** The triggering request, or a function building it (called only if a run starts). */
  request?: TaskRequestInfo | (() => TaskRequestInfo)
  /**
   * A payload for the one task named in `tasks` (the run is forced): checked against the
   * task's `payload` schema and `maxPayloadSize` before anything runs (docs/PAYLOADS.md#payloads).
   */
  payload?: unknown
}

/** Options of `app.scheduler.run()`. */
export interface RunOptions {
  /** Run regardless of the schedule. */
  force?: boolean
  /** The instant to run at (default: the clock's now). */
  now?: Date
  /**
   * A payload the task reads as `ctx.payload`; forces the run. Rejects with
   * `FST_SCHEDULER_INVALID_PAYLOAD` (no match, or the task declares no schema) or
   * `FST_SCHEDULER_PAYLOAD_TOO_LARGE`, and nothing runs.
   */
  payload?: unknown
}

/** Options of `list()`. */
export interface ListOptions {
  /** The instant next runs are computed from (default: the clock's now). */
  now?: Date
  /** How many next occurrences per task (default 1). */
  upcoming?: number
  /** How many recent runs per task (default 5). */
  recent?: number
}

/** The `app.scheduler` decoration. */
export interface SchedulerApi {
  /** Run every due task at `now` (default: the clock's now). The test helper: `tick(new Date('2026-05-12T17:00Z'))`. */
  tick (now?: Date | TickOptions): Promise<TickResult>
  /** Run one task now if due, or regardless of its schedule with `{ force: true }`; resolves when the run ends. */
  run (name: string, options?: RunOptions): Promise<RunOutcome>
  /** The listing: every task with its schedule, next and last run. */
  list (options?: Date | ListOptions): Promise<SchedulerListing>
  /** The cluster's health, as `GET <prefix>/health` answers it. */
  health (): Promise<HealthReport>
  /**
   * Add a hook called with a copy of the run record: `onRunStart` once a run's `running`
   * record is written, `onRunEnd` once its final record is. Bounded in time; a hook that
   * throws or hangs is logged and never changes the run.
   */
  addHook (name: RunHookName, fn: RunHook): void
  /** Add a hook called when this process pauses a task or everything (`pause()`, `pauseOnFailure`: docs/PAUSE.md). */
  addHook (name: 'onPause', fn: PauseHook): void
  /** Run history, newest first. */
  history (query?: HistoryQuery): Promise<HistoryPage>
  /**
   * Pause a task for every replica (kept in the store): no replica starts it until
   * `resume(name)`; its occurrences meanwhile are not owed. A pause already in force is kept.
   * Unknown names reject with `FST_SCHEDULER_UNKNOWN_TASK`.
   */
  pause (name: string, options?: PauseOptions): Promise<PauseAnswer>
  /** Pause every task (maintenance), for every replica, until `resume()`. */
  pause (options?: PauseOptions): Promise<PauseAnswer>
  /** Lift a task's pause; see `ResumeOptions` for what happens to the occurrences it held back. */
  resume (name: string, options?: ResumeOptions): Promise<ResumeAnswer>
  /** Lift the pause of everything (tasks paused on their own stay paused). */
  resume (options?: ResumeOptions): Promise<ResumeAnswer>
  /**
   * Run every occurrence of the task's schedule in [from, to] once, oldest first, one per
   * whole tick, on whichever replica ticks (progress is kept in the store). Occurrences that
   * already have a run record are skipped, not rerun; sending the same backfill twice runs it
   * once. Rejects with `FST_SCHEDULER_INVALID_INPUT` when from > to, the range ends in the
   * future, holds no occurrence or more than `maxBackfill` (docs/PAYLOADS.md#backfills).
   */
  backfill (name: string, options: BackfillOptions): Promise<BackfillAnswer>
  /** Add a task before the app is ready (class, instance or object form). */
  add (task: TaskInput): void
  /** Names of all registered tasks (after ready). */
  readonly taskNames: readonly string[]
  /** The store in use. */
  readonly store: Store
  /** When the last tick arrived (by the clock), or undefined. */
  readonly lastTickAt: Date | undefined
}

/**
 * A task as accepted by `tasks: [...]` and `add()`: a Task subclass, a Task instance, or the
 * object form (`defineTask({ ... })` or a plain object with `handle`). Anything else, and any
 * object with a misspelt or malformed option, is a type error.
 *
 * @example
 * ```ts
 * const tasks: TaskInput[] = [SayHi, new Report(), defineTask({ runEveryMinute: true, handle () {} })]
 * await app.register(fastifyScheduler, { dir: false, tasks })
 * ```
 */
export type TaskInput = TaskObject | Task | TaskClass

/** The `auth.qstash` option. */
export interface QstashOption {
  /** QStash's current signing key (console → Signing keys), e.g. `process.env.QSTASH_CURRENT_SIGNING_KEY`. */
  currentSigningKey: string
  /** QStash's next signing key, accepted too so that a key rotation needs no redeploy. */
  nextSigningKey: string
  /**
   * The URL QStash calls, exactly as given to QStash, when it differs from the one this app
   * sees (a proxy or load balancer rewrites host, scheme or path). Default: the request's own
   * `protocol://host/path?query`.
   */
  url?: string
}

/** The `auth.oidc` option. */
export interface OidcOption {
  /** The audience the token must be issued for (Cloud Scheduler: the audience set on the job, by default its URL). */
  audience: string | string[]
  /** Who issues the tokens. Default Google: `https://accounts.google.com`. */
  issuer?: string
  /** Where the issuer's public keys are. Default Google: `https://www.googleapis.com/oauth2/v3/certs`. */
  jwksUri?: string
  /** Only tokens of this identity (a service account's email) are accepted. Recommended: any Google account can get a token for your audience. */
  email?: string
}

/**
 * Credentials check for the HTTP routes (docs/TRIGGERS.md). Give any of the methods: a request
 * that one of them accepts gets in. `false` opts out (every caller gets in).
 */
export type AuthOption =
  | false
  | {
    /** Static tokens, sent as `Authorization: Bearer <token>`; several allow rotation. Default `SCHEDULE_TOKEN`. */
    tokens?: string[]
    /** Also accept the token as the password of HTTP Basic (any user name), for pingers that offer only that. */
    basic?: boolean
    /** Verify Upstash QStash's `Upstash-Signature` (signature, URL, expiry, body hash, each jti once). */
    qstash?: QstashOption
    /** Verify OIDC ID tokens sent as Bearer (Google Cloud Scheduler by default). */
    oidc?: OidcOption
    /** The app's own check (JWT, session, IP list); asked when no other method accepted the request. */
    authorize?: (request: FastifyRequest) => boolean | Promise<boolean>
  }

/** Options of the plugin (docs/ARCHITECTURE.md#options). */
export interface SchedulerOptions {
  /** Tasks folder; default `tasks` beside the app (the current working directory). `false` disables discovery. */
  dir?: string | false
  /** Tasks given directly (class, instance or object form). */
  tasks?: TaskInput[]
  /** Where state and history live; default `sqliteStore()` at `./.fastify-scheduler.sqlite`. */
  store?: Store
  /** Default time zone of every schedule; default the process's zone. */
  timezone?: string
  /** Route prefix; default `/_schedule`. */
  prefix?: string
  /** Register the HTTP routes (and require auth). Default true; `false` for apps that only tick from code or the CLI. */
  routes?: boolean
  /** Who may call the routes; default `SCHEDULE_TOKEN` from the environment. */
  auth?: AuthOption | undefined
  /** Accept `?token=` (redacted from logs) for pingers that cannot send headers. Default false. */
  allowQueryToken?: boolean
  /** Also register `GET <prefix>/run` for GET-only pingers. Default false. */
  allowGetTrigger?: boolean
  /** How long a trigger request waits for runs before answering 202. Default `'25 seconds'`. */
  maxWait?: string | number
  /** Health answers 503 when no tick arrived within this. Default `'3 minutes'`. */
  expectTickEvery?: string | number
  /** Runs kept per task. Default 100. */
  historyLimit?: number
  /** Lease length; renewed every third of it while a run lasts. Default `'60 seconds'`. */
  leaseTime?: string | number
  /** On close, how long to wait for running tasks after aborting their signals. Default `'10 seconds'`. */
  closeGracePeriod?: string | number
  /** The clock (ms since epoch); tests inject one. Default `Date.now`. */
  clock?: () => number
  /** Retry failed runs of every task that sets no `retries` of its own. Default none. */
  retries?: RetryOptions | false
  /**
   * The overlap policy of every task that sets no `overlap` of its own: `'skip'` (default),
   * `'bufferOne'`, `'cancelOther'` or `'allow'` (docs/OVERLAP.md).
   */
  overlap?: OverlapPolicy
  /**
   * After this many failed runs in a row, a task that sets no `pauseOnFailure` of its own
   * pauses itself for every replica (docs/PAUSE.md). A whole number from 1; default never.
   */
  pauseOnFailure?: number | false
  /** How long any store call may take before it counts as failed (503). Default `'5 seconds'`. */
  storeTimeout?: Duration
  /**
   * The store's clock is the clock of record (Redis `TIME`, PostgreSQL `now()`): each process
   * measures its offset at boot and with its heartbeat, reads lease times in store time, and
   * claims nothing (503, health 503) while the offset exceeds this. Default `'30 seconds'`;
   * `false` turns the measurement off (tests that fake time with `clock` against a real
   * Redis or PostgreSQL). Stores sharing the host clock (memory, SQLite) are never skewed.
   */
  maxClockSkew?: Duration | false
  /**
   * How long the retry of an abandoned run waits at least, so that the run's own result —
   * delayed by a partition or a blocked event loop — can still land and cancel it. Default 5 ×
   * `leaseTime`. A process cut off for longer can see its occurrence run twice (at least once).
   */
  lateResultGrace?: Duration
  /**
   * Largest payload of a forced run, in bytes of its JSON (docs/PAYLOADS.md#payloads): larger
   * ones are refused (413, `FST_SCHEDULER_PAYLOAD_TOO_LARGE`) and the run record keeps the
   * payload within this bound. An integer from 2 to 1048576; default 16384.
   */
  maxPayloadSize?: number
  /**
   * Most occurrences one backfill may hold (docs/PAYLOADS.md#backfills): a longer range is
   * refused (400, `FST_SCHEDULER_INVALID_INPUT`, naming the count and this option). An integer
   * from 1 to 100000; default 1000.
   */
  maxBackfill?: number
  /** Serve the dashboard page at `<prefix>/ui` (it carries no data; it reads the routes with the operator's credentials). Default true; ignored when `routes` is false. */
  ui?: boolean
  /**
   * Keep what each run logs through `ctx.log` with its record (the last lines, redacted as the
   * app's logger redacts them), shown in the listing, the history and the dashboard, and sent
   * as the body of a heartbeat URL's `/fail` ping. Default `{ maxBytes: 8192 }`; `false` keeps nothing.
   */
  runOutput?: false | { maxBytes?: number }
  /** Health answers 503 while any task is failing (its last finished run failed, timed out or was abandoned). Default false. */
  failingTasksUnhealthy?: boolean
  /**
   * `GET <prefix>/metrics` in the Prometheus text format (docs/OBSERVABILITY.md). Default true:
   * behind the routes' auth. `{ auth: false }` opens it for in-cluster scraping; `{ registry }`
   * registers the `fastify_scheduler_*` families into the app's own prom-client `Registry`
   * (the route then serves that whole registry). `false`: no metrics, no route.
   */
  metrics?: boolean | MetricsOptions
  /**
   * One OpenTelemetry span per run (docs/OBSERVABILITY.md#tracing). Default: on when
   * `@opentelemetry/api` resolves (an optional peer), off otherwise. `true` fails the boot
   * when it does not resolve.
   */
  tracing?: boolean
}

/** The object form of the `metrics` option. */
export interface MetricsOptions {
  /** Require the routes' credentials for `GET <prefix>/metrics`. Default true; false opens it. */
  auth?: boolean
  /** A prom-client `Registry` to register into; default one of its own per plugin instance. */
  registry?: Registry
}
