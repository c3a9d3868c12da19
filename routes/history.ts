/** `GET <prefix>/runs`: run history, newest first, filtered by task and status, paginated (docs/ARCHITECTURE.md#the-store-contract, #the-http-routes). */
import type { RunRecord } from '../plugin/stores/store.js'
import { coversJson } from '../plugin/views.js'
import type { ScheduleApp, ScheduleRoutesOptions } from './types.js'
import { splitList } from './input.js'
import { HistoryQuerySchema, historyResponses, type RunRecordJson } from './schemas.js'
import type { RunStatus } from '../plugin/stores/store.js'

export const DEFAULT_PAGE_SIZE = 50

/** A run record as JSON: instants as ISO strings, absent values as null. */
export function runJson (run: RunRecord): RunRecordJson {
  return {
    id: run.id,
    task: run.task,
    scheduledFor: run.scheduledFor.toISOString(),
    trigger: run.trigger,
    startedAt: run.startedAt.toISOString(),
    finishedAt: run.finishedAt?.toISOString() ?? null,
    durationMs: run.durationMs ?? null,
    status: run.status,
    error: run.error ?? null,
    stack: run.stack ?? null,
    attempt: run.attempt,
    forced: run.forced,
    instance: run.instance ?? null,
    covers: coversJson(run),
    output: run.output ?? null,
    payload: run.payload ?? null
  }
}

export function historyRoute (app: ScheduleApp, opts: ScheduleRoutesOptions): void {
  app.get('/runs', {
    schema: {
      summary: 'Run history',
      description: 'Runs newest first, optionally only of some tasks or statuses, paginated with limit and offset.',
      querystring: HistoryQuerySchema,
      response: historyResponses
    }
  }, async (request) => {
    const { task, status, limit = DEFAULT_PAGE_SIZE, offset = 0 } = request.query
    const page = await opts.scheduler.history({
      ...(task !== undefined ? { task: splitList(task) } : {}),
      // The schema's pattern admits only run statuses.
      ...(status !== undefined ? { status: splitList(status) as RunStatus[] } : {}),
      limit,
      offset
    })
    return { runs: page.runs.map(runJson), total: page.total, limit, offset }
  })
}
