/**
 * The trigger, `POST <prefix>/run` (and `GET <prefix>/run` with `allowGetTrigger`): tick now,
 * wait for the runs up to `maxWait`, answer what ran, was skipped, failed or still runs.
 *
 * Status: 200 all finished and none failed (nothing due included); 202 with `wait=false`, or
 * when runs were still going at `maxWait`; 500 when a run failed or timed out (so `curl -f`
 * notices); 404 unknown task; 503 store down (via the error handler). HEAD never ticks.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { RunOutcome, TickOptions, TickResult } from '../plugin/types.js'
import { compileSerializer, isEmptyObject, sendSerialized } from './compilers.js'
import { withDeadline } from '../core/deadline.js'
import { InvalidInputError, MethodNotAllowedError } from '../core/errors.js'
import { errorAnswer } from './errors.js'
import type { ScheduleApp, ScheduleRoutesOptions } from './types.js'
import { parseFlag, splitList } from './input.js'
import { requestInfo } from './request-info.js'
import {
  methodNotAllowedResponses, TriggerAnswer, TriggerBody, TriggerQuery, triggerResponses,
  type TriggerAnswerBody, type TriggerInput, type TriggerQueryInput
} from './schemas.js'

const FAILED = new Set<RunOutcome['status']>(['failed', 'timed_out'])
// A buffered occurrence waits for the running run; a cancelled run made way for a newer one (docs/OVERLAP.md).
const SKIPPED = new Set<RunOutcome['status']>(['skipped', 'missed', 'buffered', 'cancelled'])

/**
 * The door a request came through: `ui` when the dashboard sent it (its `X-Fastify-Scheduler: ui`
 * header; the request passed the same auth as any other), else `http` (docs/PAYLOADS.md#triggers).
 */
export function requestTrigger (headers: FastifyRequest['headers']): 'ui' | 'http' {
  return headers['x-fastify-scheduler'] === 'ui' ? 'ui' : 'http'
}

/** Body fields win over query fields of the same name. */
export function triggerOptions (body: TriggerInput | undefined, query: TriggerQueryInput, trigger: 'ui' | 'http' = 'http'): { tick: TickOptions, wait: boolean } {
  // A pinger's request: no body, no query. Its options are the defaults, built without parsing.
  if ((body === undefined || body === null) && isEmptyObject(query)) return { tick: { force: false, trigger }, wait: true }
  const named = body?.task ?? query.task
  const tasks = named === undefined ? undefined : splitList(named)
  if (tasks !== undefined && tasks.length === 0) throw new InvalidInputError('task names no task: give a name, several comma-separated, or leave it out to run every due task')
  const payload = body?.payload
  return {
    tick: {
      ...(tasks !== undefined ? { tasks } : {}),
      // A payload forces its run (docs/PAYLOADS.md#payloads); the scheduler checks it before anything runs.
      force: payload !== undefined || parseFlag(body?.force ?? query.force, false),
      trigger,
      ...(payload !== undefined ? { payload } : {})
    },
    wait: parseFlag(body?.wait ?? query.wait, true)
  }
}

/** The settled outcomes, or undefined when `ms` passed first. The timer never holds the process. */
async function settledWithin (settled: Promise<RunOutcome[]>, ms: number): Promise<RunOutcome[] | undefined> {
  return await withDeadline(settled, ms, { unref: true, onTimeout: () => undefined })
}

/** Sort outcomes into the answer. */
export function triggerAnswer (now: string, outcomes: readonly RunOutcome[], unavailable: TickResult['unavailable'] = []): TriggerAnswerBody {
  const ran = outcomes.filter(o => o.status === 'succeeded')
  const failed = outcomes.filter(o => FAILED.has(o.status))
  const running = outcomes.filter(o => o.status === 'started')
  const skipped = outcomes.filter(o => SKIPPED.has(o.status))
  const status = unavailable.length > 0 ? 'unavailable' : failed.length > 0 ? 'failed' : running.length > 0 ? 'running' : 'ok'
  let summary = outcomes.length === 0 && unavailable.length === 0
    ? 'nothing was due'
    : `${ran.length} ran, ${failed.length} failed, ${running.length} running, ${skipped.length} skipped`
  if (unavailable.length > 0) summary += `; not started (store unavailable): ${unavailable.map(u => u.task).join(', ')}`
  return { now, status, summary, ran, failed, running, skipped, unavailable: [...unavailable] }
}

/**
 * The idle answer ("nothing was due", what almost every ping gets) serialized once, by the
 * serializer of the trigger's 200, around a stand-in instant: each idle ping then writes
 * only its own `now` between the two halves.
 */
function idleAnswerWriter (): (now: string) => string {
  const standIn = new Date(0).toISOString()
  const [before, after] = compileSerializer(TriggerAnswer)(triggerAnswer(standIn, [])).split(JSON.stringify(standIn))
  return now => before + JSON.stringify(now) + after
}

/**
 * One log line per answered tick: info when the tick started or reported a run, so what
 * ran, failed or was skipped shows at the production level; debug for an idle tick, which
 * a pinger sends every minute and Fastify's own request lines already record.
 */
function triggerHandler (opts: ScheduleRoutesOptions) {
  const idleAnswer = idleAnswerWriter()
  const answerIdle = (request: FastifyRequest, reply: FastifyReply, now: string, wait: boolean): FastifyReply => {
    request.log.debug('fastify-scheduler: tick answered, nothing was due')
    return sendSerialized(reply, wait ? 200 : 202, idleAnswer(now))
  }
  return async function trigger (request: FastifyRequest<{ Body: TriggerInput | undefined, Querystring: TriggerQueryInput }>, reply: FastifyReply) {
    const { tick, wait } = triggerOptions(request.body, request.query, requestTrigger(request.headers))
    if (tick.tasks === undefined && tick.force !== true) {
      // A plain ping with nothing due, answered without a tick's promise.
      const now = opts.scheduler.idleTick()
      if (now !== undefined) return answerIdle(request, reply, now, wait)
    }
    // Built only when a run starts: most ticks run nothing.
    tick.request = () => requestInfo(request)
    const result = await opts.scheduler.tick(tick)
    // Idle: nothing started, nothing to report, no task kept from starting by the store.
    if (result.runs.length === 0 && result.unavailable.length === 0) return answerIdle(request, reply, result.now, wait)
    let outcomes = result.runs
    let finished = !outcomes.some(outcome => outcome.status === 'started')
    if (wait && !finished) {
      const settled = await settledWithin(result.settled, opts.maxWaitMs)
      if (settled !== undefined) outcomes = settled
      finished = settled !== undefined
    }
    const answer = triggerAnswer(result.now, outcomes, result.unavailable)
    // 503 first: a tick in which a due task could not start must never look like a success.
    const statusCode = result.unavailable.length > 0 ? 503 : !wait ? 202 : answer.failed.length > 0 ? 500 : finished ? 200 : 202
    request.log.info({ status: answer.status, summary: answer.summary }, 'fastify-scheduler: tick answered')
    return reply.code(statusCode).send(answer)
  }
}

function methodNotAllowed (allow: string, hint: string) {
  return async function refuseMethod (request: FastifyRequest, reply: FastifyReply) {
    return reply.code(405).header('allow', allow).send(errorAnswer(new MethodNotAllowedError(`${request.method} does not trigger a tick: ${hint}`)))
  }
}

export function triggerRoutes (app: ScheduleApp, opts: ScheduleRoutesOptions): void {
  const description = 'Tick now: run every due task (or the named ones), wait up to maxWait, and list what ran, was skipped, failed or is still running.'
  app.post('/run', {
    bodyLimit: 64 * 1024 + opts.maxPayloadSize,
    schema: { summary: 'Trigger a tick', description, body: TriggerBody, querystring: TriggerQuery, response: triggerResponses }
  }, triggerHandler(opts))

  const allow = opts.allowGetTrigger ? 'POST, GET' : 'POST'
  // Not in the OpenAPI document: these routes only explain a wrong method.
  const hidden = { hide: true, response: methodNotAllowedResponses }
  if (opts.allowGetTrigger) {
    app.get('/run', {
      // Fastify would answer HEAD by running this handler: HEAD must never tick.
      exposeHeadRoute: false,
      schema: { summary: 'Trigger a tick (for GET-only pingers)', description, querystring: TriggerQuery, response: triggerResponses }
    }, triggerHandler(opts))
  } else {
    app.get('/run', { exposeHeadRoute: false, schema: hidden },
      methodNotAllowed(allow, 'use POST (or set the plugin option allowGetTrigger: true for GET-only pingers)'))
  }
  app.head('/run', { schema: hidden }, methodNotAllowed(allow, `use ${allow.replace(', ', ' or ')}`))
}
