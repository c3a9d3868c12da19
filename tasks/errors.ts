/**
 * Coded errors of the task model (`@fastify/error`). The message is built whole by the
 * caller, starting with the source (a file path or `options.tasks[i]`), so each error names
 * the file, the property and what is accepted.
 */
import createError from '@fastify/error'

/** A task export is not a task, or one of its properties is wrong. Fails the boot. */
export const InvalidTaskError = createError<'FST_SCHEDULER_INVALID_TASK', [string]>(
  'FST_SCHEDULER_INVALID_TASK', '%s', 500)

/** A schedule attribute or time zone does not parse. Fails the boot. */
export const InvalidScheduleError = createError<'FST_SCHEDULER_INVALID_SCHEDULE', [string]>(
  'FST_SCHEDULER_INVALID_SCHEDULE', '%s', 500)
