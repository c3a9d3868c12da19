/**
 * Coded errors of the task model (`@fastify/error`). The message is built whole by the
 * caller, starting with the source (a file path or `options.tasks[i]`), so each error names
 * the file, the property and what is accepted.
 */
import createError from '@fastify/error'

/**
 * A task export is not a task, or one of its properties is wrong. Fails the boot.
 *
 * @example
 * ```ts
 * // tasks/report.ts: export default { run_every: '3 days', handle () {} } fails the boot with
 * // FST_SCHEDULER_INVALID_TASK tasks/report.ts: unknown property "run_every" — did you mean "runEvery"?
 * ```
 */
export const InvalidTaskError = createError<'FST_SCHEDULER_INVALID_TASK', [string]>(
  'FST_SCHEDULER_INVALID_TASK', '%s', 500)

/**
 * A schedule attribute or time zone does not parse. Fails the boot.
 *
 * @example
 * ```ts
 * try {
 *   compileSchedule({ runEvery: '3 dayz' as never })
 * } catch (err) {
 *   if (err instanceof InvalidScheduleError) console.error(err.message) // names runEvery and the accepted units
 * }
 * ```
 */
export const InvalidScheduleError = createError<'FST_SCHEDULER_INVALID_SCHEDULE', [string]>(
  'FST_SCHEDULER_INVALID_SCHEDULE', '%s', 500)
