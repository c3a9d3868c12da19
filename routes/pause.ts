/**
 * Pause and resume (docs/PAUSE.md), with the listing's auth:
 *
 *   POST <prefix>/tasks/:name/pause   { reason?, by? }   pause one task for every replica
 *   POST <prefix>/tasks/:name/resume  { catchUp? }       lift its pause
 *   POST <prefix>/pause               { reason?, by? }   pause everything (maintenance)
 *   POST <prefix>/resume              { catchUp? }       lift the pause of everything
 *
 * An unknown task answers 404 naming it; the store down answers 503 (the error handler).
 */
import type { ScheduleApp, ScheduleRoutesOptions } from './types.js'
import { parseFlag } from './input.js'
import {
  PauseBody, pauseResponses, ResumeBody, resumeResponses, TaskParams, type PauseInput, type ResumeInput
} from './schemas.js'
import type { PauseOptions, ResumeOptions } from '../plugin/types.js'

function pauseOptions (body: PauseInput | undefined | null): PauseOptions {
  const options: PauseOptions = {}
  if (body?.reason !== undefined) options.reason = body.reason
  if (body?.by !== undefined) options.by = body.by
  return options
}

function resumeOptions (body: ResumeInput | undefined | null): ResumeOptions {
  return { catchUp: parseFlag(body?.catchUp, false) }
}

export function pauseRoutes (app: ScheduleApp, opts: ScheduleRoutesOptions): void {
  const { scheduler } = opts
  app.post('/tasks/:name/pause', {
    schema: {
      summary: 'Pause a task',
      description: 'No replica starts the task until it is resumed; its occurrences meanwhile are not owed. A pause already in force is kept as it is.',
      params: TaskParams,
      body: PauseBody,
      response: pauseResponses
    }
  }, async (request) => await scheduler.pause(request.params.name, pauseOptions(request.body)))

  app.post('/tasks/:name/resume', {
    schema: {
      summary: 'Resume a task',
      description: 'Lift the task\'s pause. The occurrences it held back are recorded as one skipped run; with catchUp the latest of them runs once now.',
      params: TaskParams,
      body: ResumeBody,
      response: resumeResponses
    }
  }, async (request) => await scheduler.resume(request.params.name, resumeOptions(request.body)))

  app.post('/pause', {
    schema: {
      summary: 'Pause everything (maintenance)',
      description: 'No replica starts any task until POST /resume. Tasks paused on their own stay paused after it.',
      body: PauseBody,
      response: pauseResponses
    }
  }, async (request) => await scheduler.pause(pauseOptions(request.body)))

  app.post('/resume', {
    schema: {
      summary: 'Resume everything',
      description: 'Lift the pause of everything. The occurrences it held back are recorded as one skipped run per task; with catchUp the latest of each runs once now.',
      body: ResumeBody,
      response: resumeResponses
    }
  }, async (request) => await scheduler.resume(resumeOptions(request.body)))
}
