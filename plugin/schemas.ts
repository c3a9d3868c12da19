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
const OUTCOME_STATUSES = ['started', 'succeeded', 'failed', 'timed_out', 'skipped', 'missed', 'buffered', 'cancelled'] as const

/** What happened to one task in a tick or forced run (`RunOutcome`). */
export const Outcome = Type.Object({
  task: Type.String(),
  /**
   * - `started`: the run is still going (the answer did not wait for it, or `maxWait` passed)
   * - `succeeded` | `failed` | `timed_out`: it finished within the wait
   * - `skipped`: not run; `reason` says why (`overlap`, `disabled`, `claimed elsewhere`)
   * - `missed`: the occurrence was too late for `catchUp` and is recorded as missed
   * - `buffered`: the previous run still holds the lease; the occurrence runs when it ends
   *   (`overlap: 'bufferOne'` / `'cancelOther'`, docs/OVERLAP.md)
   * - `cancelled`: it was superseded by a newer occurrence (`overlap: 'cancelOther'`)
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

/** The occurrences a coalesced catch-up run stands for (docs/RUN-OUTPUT.md#covers), null when it stands for its own only. */
export const CoversSchema = Type.Union([Type.Object({
  from: Instant,
  to: Instant,
  count: Type.Integer({ minimum: 2, description: 'occurrences this one run stands for' })
}), Type.Null()], { description: 'the missed occurrences catch-up coalesced into this run (from the oldest to the one run), null for none' })

/** What the task logged through ctx.log during the run (docs/RUN-OUTPUT.md). */
export const OutputSchema = Type.Union([Type.String(), Type.Null()], { description: 'the last lines the task logged through ctx.log, redacted and bounded; null for none' })

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
  covers: CoversSchema,
  output: OutputSchema,
  trigger: TriggerSchema
})

/** A pause in force as the listing and the pause routes show it (docs/PAUSE.md). */
export const PausedSchema = Type.Object({
  /** ISO instant the pause began. */
  since: Instant,
  /** Why, as the operator said it (or the error that tripped `pauseOnFailure`). */
  reason: NullableString,
  /** Who paused. */
  by: NullableString,
  /** True for the pause of everything (maintenance), false for the task's own. */
  all: Type.Boolean({ description: 'true for the pause of everything (maintenance)' })
}, { description: 'the pause in force: no replica runs the task' })

/** What `pause()` answers (`PauseAnswer`). */
export const PauseAnswerSchema = Type.Object({
  /** The task paused, null for everything. */
  task: NullableString,
  paused: PausedSchema
})

/** Occurrences owed during a pause, recorded as one `skipped` run on resume. */
export const SkippedSchema = Type.Object({
  task: Type.String(),
  occurrences: Type.Integer({ minimum: 1 }),
  from: Instant,
  to: Instant
})

/** What `resume()` answers (`ResumeAnswer`). */
export const ResumeAnswerSchema = Type.Object({
  /** The task resumed, null for everything. */
  task: NullableString,
  /** False when no such pause was in force (nothing changed). */
  resumed: Type.Boolean(),
  /** The pause lifted. */
  paused: Type.Union([PausedSchema, Type.Null()]),
  /** Occurrences owed during the pause and recorded as skipped (all of them without catchUp, all but the latest with it). */
  skipped: Type.Array(SkippedSchema),
  /** With catchUp: what the latest owed occurrence's start gave, per task. */
  runs: Type.Array(Outcome)
})

/** A backfill and its progress (docs/PAYLOADS.md#backfills). */
export const BackfillSchema = Type.Object({
  id: Type.String(),
  task: Type.String(),
  /** The range, as asked. */
  from: Instant,
  to: Instant,
  /** Occurrences of the schedule in the range. */
  occurrences: Type.Integer({ minimum: 1, description: 'occurrences of the schedule in [from, to]' }),
  /** Occurrences run by this backfill so far. */
  done: Type.Integer({ minimum: 0 }),
  /** Occurrences that already had a run record (scheduled or backfilled): not rerun. */
  skipped: Type.Integer({ minimum: 0, description: 'occurrences that already had a run record: not rerun' }),
  /** The next occurrence to run, null once finished. */
  next: NullableInstant,
  createdAt: Instant
}, { description: 'a backfill of past occurrences, run oldest first, one per tick' })

/** What `backfill()` and `POST <prefix>/tasks/:name/backfill` answer (`BackfillAnswer`). */
export const BackfillAnswerSchema = Type.Object({
  ...BackfillSchema.properties,
  /** False when the same backfill (task and range) was already in progress: that one is answered. */
  created: Type.Boolean({ description: 'false when the same backfill was already in progress (it is answered)' })
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
  /** Retries configured after a failed run (the policy's attempts minus the first run; 0: no retries). */
  retries: Type.Integer({ minimum: 0, description: 'retries configured after a failed run (0: no retries)' }),
  /** The newest runs (`recent` of them, default 5), newest first, a run that just finished included. */
  recent: Type.Array(RunSummarySchema, { description: 'the newest runs, newest first (query recent, default 5)' }),
  source: Type.String({ description: 'file or option the task came from' }),
  /** The pause that stops the task (its own, else the pause of everything), null when it runs. */
  paused: Type.Union([PausedSchema, Type.Null()], { description: 'the pause that stops the task, null when it runs' }),
  /** The task declares a payload schema: a forced run may carry a payload (docs/PAYLOADS.md#payloads). */
  acceptsPayload: Type.Boolean({ description: 'the task declares a payload schema: POST /run { task, payload } is accepted' }),
  /** The task's backfills in progress, oldest first (docs/PAYLOADS.md#backfills). */
  backfills: Type.Array(BackfillSchema, { description: 'the task\'s backfills in progress, oldest first' })
})

/** The listing (`GET /_schedule`, `list()`: `SchedulerListing`). */
export const ListingAnswer = Type.Object({
  now: Instant,
  store: Type.Object({ kind: Type.String({ description: 'memory, sqlite, redis, postgres, or a third-party store\'s name' }), durable: Type.Boolean() }),
  /** ISO instant of the cluster's last tick (any replica's), null if none. */
  lastTick: Type.Union([Instant, Type.Null()], { description: 'the cluster\'s last tick (any replica\'s)' }),
  /** This process (`host:pid`), as run records name it. */
  instance: Type.String({ description: 'the process that answered (host:pid)' }),
  /** The pause of everything (maintenance), null when none. */
  paused: Type.Union([PausedSchema, Type.Null()], { description: 'the pause of everything (maintenance), null when none' }),
  tasks: Type.Array(TaskListingSchema)
})

/** What `/health` answers (`HealthReport` adds `healthy`, which decides 200 or 503 and is not sent). */
export const HealthAnswer = Type.Object({
  status: stringEnum(['ok', 'stale', 'no tick yet', 'store unreachable', 'clock skew', 'store went back in time', 'failing'] as const),
  /** ISO instant of the cluster's last tick, null if none. */
  lastTick: Type.Union([Instant, Type.Null()], { description: 'the cluster\'s last tick (any replica\'s)' }),
  /** One line for humans; names no task. */
  reason: Type.String({ description: 'one line for humans; names no task' }),
  /** How many tasks are paused (their own pause or the pause of everything); a pause never makes health 503. */
  paused: Type.Integer({ minimum: 0, description: 'how many tasks are paused (never a reason for 503)' }),
  /** How many tasks are failing and overdue, cluster-wide (counts only; absent when the runs could not be read). */
  tasks: Type.Optional(Type.Object({
    failing: Type.Integer({ minimum: 0, description: 'tasks whose last finished run failed, timed out or was abandoned' }),
    overdue: Type.Integer({ minimum: 0, description: 'enabled tasks with an occurrence older than expectTickEvery and no record of it' })
  }, { description: 'counts only: health names no task' }))
}, { description: 'ok when any replica ticked within expectTickEvery and the store answers' })
