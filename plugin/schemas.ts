/**
 * The answers `app.scheduler` gives and the /_schedule routes send, as TypeBox schemas: the
 * one definition of each shape. The TypeScript types (`RunOutcome`, `TaskListing`,
 * `SchedulerListing`, `HealthReport`, … in `types.ts`) are derived from them with `Static`,
 * and the routes serialize with them (`routes/schemas.ts`), so a field cannot be added to
 * one side only (fast-json-stringify would drop it silently). They live here, below the
 * routes, because plugin/ must not import routes/.
 */
import Type, { type TUnsafe } from 'typebox'
import { RUN_STATUSES } from './stores/store.js'

/** A string enum as plain JSON Schema (`{ type: 'string', enum }`), typed as the union of its values. */
export function stringEnum<T extends string> (values: readonly T[], options: { description?: string } = {}): TUnsafe<T> {
  return Type.Unsafe<T>({ type: 'string', enum: [...values], ...options })
}

export const Instant = Type.String({ format: 'date-time', description: 'ISO 8601 instant (UTC)' })
export const NullableInstant = Type.Union([Instant, Type.Null()])
export const NullableNumber = Type.Union([Type.Number(), Type.Null()])
export const NullableString = Type.Union([Type.String(), Type.Null()])

export const RunStatusSchema = stringEnum(RUN_STATUSES)
const OUTCOME_STATUSES = ['started', 'succeeded', 'failed', 'timed_out', 'skipped', 'missed'] as const

/** What happened to one task in a tick or forced run (`RunOutcome`). */
export const Outcome = Type.Object({
  task: Type.String(),
  /**
   * - `started`: the run is still going (the answer did not wait for it, or `maxWait` passed)
   * - `succeeded` | `failed` | `timed_out`: it finished within the wait
   * - `skipped`: not run; `reason` says why (`overlap`, `disabled`, `claimed elsewhere`)
   * - `missed`: the occurrence was too late for `catchUp` and is recorded as missed
   */
  status: stringEnum(OUTCOME_STATUSES),
  /** Run id in the history (absent for skips that wrote no record). */
  runId: Type.Optional(Type.String({ description: 'id in the run history' })),
  /** ISO instant of the occurrence. */
  scheduledFor: Instant,
  reason: Type.Optional(Type.String({ description: 'why it was skipped or missed' })),
  error: Type.Optional(Type.String({ description: 'error message of a failed or timed-out run' })),
  durationMs: Type.Optional(Type.Number())
})

/** Every trigger a run record can carry; 'manual' only in records of older versions (now 'api'; docs/PAYLOADS.md#triggers). */
export const RECORDED_TRIGGERS = ['http', 'ui', 'cli', 'work', 'api', 'backfill', 'manual'] as const
export const TriggerSchema = stringEnum(RECORDED_TRIGGERS, { description: 'what started the run: http, ui (the dashboard), cli, work, api (app.scheduler), backfill; manual in records of older versions' })

export const Attempt = Type.Integer({ minimum: 1, description: '1 for the first run of an occurrence, 2 for its first retry…' })
export const Forced = Type.Boolean({ description: 'started with force, ignoring the schedule' })

/** A run as the listing shows it (`RunSummary`). */
export const RunSummarySchema = Type.Object({
  id: Type.String(),
  status: RunStatusSchema,
  startedAt: Instant,
  finishedAt: NullableInstant,
  durationMs: NullableNumber,
  /** Error message, or the reason of a skip or miss. */
  error: Type.Union([Type.String(), Type.Null()], { description: 'error message, or the reason of a skip or miss' }),
  attempt: Attempt,
  forced: Forced,
  trigger: TriggerSchema
})

/** One row of the listing (`TaskListing`). */
export const TaskListingSchema = Type.Object({
  name: Type.String(),
  /** English description of the schedule, or "manual only". */
  schedule: Type.String({ description: 'English description, or "manual only"' }),
  /** Cron-equivalent expression where one exists. */
  cron: NullableString,
  timezone: Type.String(),
  enabled: Type.Boolean(),
  manual: Type.Boolean(),
  /** ISO instant of the next occurrence, null for manual-only or disabled tasks. */
  nextRun: NullableInstant,
  /** The next occurrences (`upcoming` of them, default 1). */
  upcoming: Type.Array(Instant, { description: 'the next occurrences (query upcoming, default 1)' }),
  /** The last run that ended (not `running`, not `skipped`), with its error. */
  lastRun: Type.Union([RunSummarySchema, Type.Null()], { description: 'the last run that ended (not running, not skipped)' }),
  /** The run going on now, in any process, if any. */
  running: Type.Union([Type.Object({
    id: Type.String(),
    startedAt: Instant,
    attempt: Attempt,
    forced: Forced,
    instance: NullableString
  }), Type.Null()], { description: 'the run going on now, in any process' }),
  runningNow: Type.Boolean(),
  /** Failed, timed-out or abandoned runs in a row, newest first (counted over the last 20 runs). */
  consecutiveFailures: Type.Integer({ minimum: 0, description: 'failed, timed-out or abandoned runs in a row (over the last 20 runs)' }),
  /** Runs in all per occurrence under the retry policy (1: no retries). */
  retries: Type.Integer({ minimum: 1, description: 'runs in all per occurrence under the retry policy (1: no retries)' }),
  /** The newest runs (`recent` of them, default 0), newest first. */
  recent: Type.Array(RunSummarySchema, { description: 'the newest runs, newest first (query recent, default 0)' }),
  source: Type.String({ description: 'file or option the task came from' }),
  /** The task declares a payload schema: a forced run may carry a payload (docs/PAYLOADS.md#payloads). */
  acceptsPayload: Type.Boolean({ description: 'the task declares a payload schema: POST /run { task, payload } is accepted' })
})

/** The listing (`GET /_schedule`, `list()`: `SchedulerListing`). */
export const ListingAnswer = Type.Object({
  now: Instant,
  store: Type.Object({ kind: Type.String({ description: 'memory, sqlite, redis, postgres, or a third-party store\'s name' }), durable: Type.Boolean() }),
  /** ISO instant of the cluster's last tick (any replica's), null if none. */
  lastTick: Type.Union([Instant, Type.Null()], { description: 'the cluster\'s last tick (any replica\'s)' }),
  /** This process (`host:pid`), as run records name it. */
  instance: Type.String({ description: 'the process that answered (host:pid)' }),
  tasks: Type.Array(TaskListingSchema)
})

/** What `/health` answers (`HealthReport` adds `healthy`, which decides 200 or 503 and is not sent). */
export const HealthAnswer = Type.Object({
  status: stringEnum(['ok', 'stale', 'no tick yet', 'store unreachable', 'clock skew', 'store went back in time'] as const),
  /** ISO instant of the cluster's last tick, null if none. */
  lastTick: Type.Union([Instant, Type.Null()], { description: 'the cluster\'s last tick (any replica\'s)' }),
  /** One line for humans; names no task. */
  reason: Type.String({ description: 'one line for humans; names no task' })
}, { description: 'ok when any replica ticked within expectTickEvery and the store answers' })
