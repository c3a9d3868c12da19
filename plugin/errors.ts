/**
 * Coded errors of the plugin, scheduler and stores (`@fastify/error`). Each message is a
 * printf-style template whose arguments name the file, option or field at fault.
 * Task-model errors (schedules, task files) live in `tasks/errors.ts`.
 */
import createError from '@fastify/error'

/**
 * A plugin option is wrong: `%s` names the option and what is accepted. Fails the boot.
 *
 * @example
 * ```ts
 * await app.register(fastifyScheduler, { maxWait: 'soon' }).ready()
 *   .catch(err => { if (err instanceof InvalidOptionError) console.error(err.code, err.message) })
 * // FST_SCHEDULER_INVALID_OPTION fastify-scheduler: maxWait "soon": expected a number of milliseconds ...
 * ```
 */
export const InvalidOptionError = createError<'FST_SCHEDULER_INVALID_OPTION', [string]>(
  'FST_SCHEDULER_INVALID_OPTION', 'fastify-scheduler: %s', 500)

/**
 * No credentials configured for the routes. Fails the boot.
 *
 * @example
 * ```ts
 * // SCHEDULE_TOKEN unset and no auth option: the boot fails with FST_SCHEDULER_NO_AUTH.
 * await app.register(fastifyScheduler, { auth: { tokens: [process.env.CRON_SECRET!] } }) // fix
 * ```
 */
export const MissingAuthError = createError<'FST_SCHEDULER_NO_AUTH', []>(
  'FST_SCHEDULER_NO_AUTH',
  'fastify-scheduler: no auth configured for the /_schedule routes. Set SCHEDULE_TOKEN in the environment ' +
  '(at least 16 characters; comma-separated for several), or pass auth: { tokens: [...] } or ' +
  'auth: { authorize (request) { ... } } to the plugin, or auth: false to opt out explicitly.', 500)

/**
 * Two tasks share one name. Fails the boot, naming both sources.
 *
 * @example
 * ```ts
 * // tasks/prune.ts and tasks/nightly/prune.ts both default to the name "prune":
 * // FST_SCHEDULER_DUPLICATE_TASK fastify-scheduler: two tasks are named "prune": ... and ...
 * export default defineTask({ name: 'prune-nightly', runAt: '03:00', handle () {} }) // fix
 * ```
 */
export const DuplicateTaskError = createError<'FST_SCHEDULER_DUPLICATE_TASK', [string, string, string]>(
  'FST_SCHEDULER_DUPLICATE_TASK', 'fastify-scheduler: two tasks are named "%s": %s and %s. Give one a different name property or file name.', 500)

/**
 * A task name given to tick/run/the trigger route does not exist (HTTP 404, CLI exit 2).
 *
 * @example
 * ```ts
 * await app.scheduler.run('prnue', { force: true })
 *   .catch(err => { if (err instanceof UnknownTaskError) app.log.warn(err.message) })
 * ```
 */
export const UnknownTaskError = createError<'FST_SCHEDULER_UNKNOWN_TASK', [string]>(
  'FST_SCHEDULER_UNKNOWN_TASK', 'fastify-scheduler: unknown task "%s"', 404)

/**
 * The store could not be reached: nothing ran (HTTP 503, CLI exit 4).
 *
 * @example
 * ```ts
 * try {
 *   await app.scheduler.tick()
 * } catch (err) {
 *   if (err instanceof StoreUnavailableError) app.log.error(err, 'no task ran; retrying at the next tick')
 * }
 * ```
 */
export const StoreUnavailableError = createError<'FST_SCHEDULER_STORE_UNAVAILABLE', [string]>(
  'FST_SCHEDULER_STORE_UNAVAILABLE', 'fastify-scheduler: the store is unavailable, no task ran: %s', 503)

/** `add()` was called after the app was ready. */
export const TooLateError = createError<'FST_SCHEDULER_TOO_LATE', [string]>(
  'FST_SCHEDULER_TOO_LATE', 'fastify-scheduler: %s must be called before the app is ready', 500)

/** The scheduler is closing or closed. */
export const ClosedError = createError<'FST_SCHEDULER_CLOSED', []>(
  'FST_SCHEDULER_CLOSED', 'fastify-scheduler: the scheduler is closed', 503)

/** Wrap any driver error from a store call into StoreUnavailableError, keeping the cause. */
export function storeUnavailable (cause: unknown): Error {
  if (cause instanceof Error && (cause as { code?: string }).code === 'FST_SCHEDULER_STORE_UNAVAILABLE') return cause
  const message = cause instanceof Error ? cause.message : String(cause)
  const err = new StoreUnavailableError(message)
  err.cause = cause
  return err
}
