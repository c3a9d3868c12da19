/**
 * TypeBox schemas of the /_schedule routes: every input and every status code's answer, so
 * validation, serialization and @fastify/swagger all read the same definitions. A field's
 * `description` doubles as the hint of its 400 message (see `compilers.ts`). The answers
 * `app.scheduler` shares with the routes are defined in `plugin/schemas.ts`.
 */
import Type, { type Static } from 'typebox'
import {
  Attempt, BackfillAnswerSchema, CoversSchema, OutputSchema, Forced, HealthAnswer, ListingAnswer, NullableInstant, NullableNumber, NullableString, Outcome, PauseAnswerSchema,
  ResumeAnswerSchema, RunStatusSchema, stringEnum, Instant, TriggerSchema
} from '../plugin/schemas.js'
import { RUN_STATUSES } from '../plugin/stores/store.js'

const STATUS_WORD = `(${RUN_STATUSES.join('|')})`

// ---- inputs ---------------------------------------------------------------------------

/** A boolean, or its spelling in a query string or form. */
const Flag = (description: string) => Type.Union([
  Type.Boolean(), Type.Literal('true'), Type.Literal('false'), Type.Literal('1'), Type.Literal('0')
], { description: `true or false ("true"/"false"/"1"/"0" also accepted): ${description}` })

const TaskName = Type.String({ minLength: 1, maxLength: 2000 })
const TaskNames = (description: string) => Type.Union([TaskName, Type.Array(TaskName, { maxItems: 100 })], {
  description: `a task name, several comma-separated, or the parameter repeated: ${description}`
})

const StatusWord = Type.String({ pattern: `^${STATUS_WORD}(,${STATUS_WORD})*$` })
const StatusFilter = Type.Union([StatusWord, Type.Array(StatusWord, { maxItems: 20 })], {
  description: `one or more of ${RUN_STATUSES.join(', ')} (comma-separated or repeated): only runs with these statuses`
})

const QueryToken = Type.String({
  description: 'the bearer token, for pingers that cannot send headers: accepted only with the plugin option allowQueryToken, and never logged'
})

const triggerFields = {
  task: Type.Optional(TaskNames('only these tasks (default: every due task)')),
  force: Type.Optional(Flag('run the tasks now even if they are not due (default false)')),
  wait: Type.Optional(Flag('wait for the runs to finish, up to maxWait (default true); false answers 202 at once'))
}

/** Body of `POST /run`: JSON or a form; every field optional, and an empty body is fine. */
export const TriggerBody = Type.Object({
  ...triggerFields,
  payload: Type.Optional(Type.Unknown({
    description: 'JSON for the one task named, checked against its payload schema: the run is forced and the task reads it as ctx.payload (docs/PAYLOADS.md)'
  }))
}, { additionalProperties: false })
/** Query of `POST /run` and `GET /run`: the same fields as the body. */
export const TriggerQuery = Type.Object({ ...triggerFields, token: Type.Optional(QueryToken) }, { additionalProperties: false })
export type TriggerInput = Static<typeof TriggerBody>
export type TriggerQueryInput = Static<typeof TriggerQuery>

export const HistoryQuerySchema = Type.Object({
  task: Type.Optional(TaskNames('only runs of these tasks')),
  status: Type.Optional(StatusFilter),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, description: 'an integer from 1 to 500: page size (default 50)' })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000, description: 'an integer of 0 or more: runs to skip (default 0)' })),
  token: Type.Optional(QueryToken)
}, { additionalProperties: false })

/** Body of the pause routes (docs/PAUSE.md): JSON or a form; an empty body is fine. */
export const PauseBody = Type.Object({
  reason: Type.Optional(Type.String({ maxLength: 500, description: 'at most 500 characters: why (shown in the listing and the dashboard)' })),
  by: Type.Optional(Type.String({ maxLength: 500, description: 'at most 500 characters: who pauses (shown in the listing)' }))
}, { additionalProperties: false })
export type PauseInput = Static<typeof PauseBody>

/** Body of the resume routes: JSON or a form; an empty body is fine. */
export const ResumeBody = Type.Object({
  catchUp: Type.Optional(Flag('run the latest occurrence held back by the pause once (default false: record them skipped)'))
}, { additionalProperties: false })
export type ResumeInput = Static<typeof ResumeBody>

/** Params of the per-task pause routes. */
export const TaskParams = Type.Object({ name: TaskName })

/** `POST <prefix>/tasks/:name/backfill`'s body (docs/PAYLOADS.md#backfills). */
export const BackfillBody = Type.Object({
  from: Type.String({ format: 'date-time', description: 'the range\'s first instant (ISO 8601): occurrences at or after it run' }),
  to: Type.String({ format: 'date-time', description: 'the range\'s last instant (ISO 8601, not in the future): occurrences at or before it run' })
}, { additionalProperties: false })
export type BackfillInput = Static<typeof BackfillBody>

export const ListingQuery = Type.Object({
  upcoming: Type.Optional(Type.Integer({ minimum: 1, maximum: 20, description: 'an integer from 1 to 20: next occurrences per task (default 1)' })),
  recent: Type.Optional(Type.Integer({ minimum: 0, maximum: 50, description: 'an integer from 0 to 50: recent runs per task (default 5)' })),
  token: Type.Optional(QueryToken)
}, { additionalProperties: false })

// ---- answers --------------------------------------------------------------------------

export const ErrorBody = Type.Object({
  statusCode: Type.Integer(),
  code: Type.Optional(Type.String()),
  error: Type.String(),
  message: Type.String()
}, { description: 'What went wrong' })

export const TriggerAnswer = Type.Object({
  now: Instant,
  status: stringEnum(['ok', 'running', 'failed', 'unavailable'] as const, {
    description: 'unavailable: some due tasks could not start for the store (503); failed: a run failed or timed out (500); running: runs go on (202); ok: all finished or nothing was due'
  }),
  summary: Type.String({ description: 'one line for humans and pinger logs' }),
  ran: Type.Array(Outcome, { description: 'runs that finished successfully' }),
  failed: Type.Array(Outcome, { description: 'runs that failed or timed out' }),
  running: Type.Array(Outcome, { description: 'runs still going when the answer was sent' }),
  skipped: Type.Array(Outcome, { description: 'occurrences not run, with the reason (overlap, claimed elsewhere, missed)' }),
  unavailable: Type.Array(Type.Object({ task: Type.String(), error: Type.String() }), {
    description: 'due tasks that did not start because the store failed (503): nothing moved for them, the next tick runs them'
  })
})
export type TriggerAnswerBody = Static<typeof TriggerAnswer>

export const RunRecordSchema = Type.Object({
  id: Type.String(),
  task: Type.String(),
  scheduledFor: Instant,
  trigger: TriggerSchema,
  startedAt: Instant,
  finishedAt: NullableInstant,
  durationMs: NullableNumber,
  status: RunStatusSchema,
  error: Type.Union([Type.String(), Type.Null()], { description: 'error message, or the reason of a skip or miss' }),
  stack: NullableString,
  attempt: Attempt,
  forced: Forced,
  instance: Type.Union([Type.String(), Type.Null()], { description: 'the process that ran it (host:pid)' }),
  covers: CoversSchema,
  output: OutputSchema,
  payload: Type.Union([Type.String(), Type.Null()], { description: 'the payload of a forced run, as JSON text (at most maxPayloadSize bytes), or null' })
})
export type RunRecordJson = Static<typeof RunRecordSchema>

export const HistoryAnswer = Type.Object({
  runs: Type.Array(RunRecordSchema, { description: 'newest first' }),
  total: Type.Integer({ description: 'runs matching the filter, ignoring limit and offset' }),
  limit: Type.Integer(),
  offset: Type.Integer()
})

// ---- per-route response maps ----------------------------------------------------------

const errors = <C extends number>(...codes: C[]): Record<C, typeof ErrorBody> =>
  Object.fromEntries(codes.map(code => [code, ErrorBody])) as Record<C, typeof ErrorBody>

export const triggerResponses = {
  200: TriggerAnswer,
  202: TriggerAnswer,
  // A failed run answers the trigger body; an unexpected fault answers an error body.
  500: Type.Union([TriggerAnswer, ErrorBody]),
  // 503: every due task failed for the store (error body), or some did (the trigger body).
  503: Type.Union([TriggerAnswer, ErrorBody]),
  ...errors(400, 401, 404, 413, 415)
}
export const listingResponses = { 200: ListingAnswer, ...errors(400, 401, 500, 503) }
export const historyResponses = { 200: HistoryAnswer, ...errors(400, 401, 500, 503) }
export const metricsResponses = {
  200: Type.String({ description: 'the Prometheus text format (version 0.0.4)' }),
  ...errors(401, 500)
}
export const healthResponses = { 200: HealthAnswer, 503: HealthAnswer, ...errors(500) }
export const backfillResponses = { 202: BackfillAnswerSchema, ...errors(400, 401, 404, 415, 500, 503) }
export const pauseResponses = { 200: PauseAnswerSchema, ...errors(400, 401, 404, 415, 500, 503) }
export const resumeResponses = { 200: ResumeAnswerSchema, ...errors(400, 401, 404, 415, 500, 503) }
export const methodNotAllowedResponses = errors(401, 405, 500)
