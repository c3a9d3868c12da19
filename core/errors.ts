/**
 * Every coded error of fastify-scheduler, defined once (`@fastify/error`). Callers compare by
 * class (`err instanceof UnknownTaskError`, which holds across copies of the package because
 * @fastify/error tags instances by code), never by the code string.
 *
 * Messages are printf-style templates whose arguments name the file, option or field at
 * fault. They carry no package prefix: the `FST_SCHEDULER_` code says where an error comes
 * from, and the CLI adds its own `fastify-scheduler:` when it prints one.
 */
import createError, { type FastifyErrorConstructor } from '@fastify/error'

/** Every class defined below, registered as it is made, for isSchedulerError(). */
const CODED: CallableFunction[] = []

/** `createError`, and the class remembered as one of this package's coded errors. */
function coded<C extends string, Arg extends unknown[]> (code: C, message: string, statusCode: number): FastifyErrorConstructor<{ code: C }, Arg> {
  const ErrorClass = createError<C, Arg>(code, message, statusCode)
  CODED.push(ErrorClass)
  return ErrorClass
}

// ── Boot: options and tasks ────────────────────────────────────────────────────────────────

/**
 * A plugin or store option is wrong: `%s` names the option and what is accepted. Fails the boot.
 *
 * @example
 * ```ts
 * await app.register(fastifyScheduler, { maxWait: 'soon' }).ready()
 *   .catch(err => { if (err instanceof InvalidOptionError) console.error(err.code, err.message) })
 * // FST_SCHEDULER_INVALID_OPTION maxWait "soon": expected a number of milliseconds ...
 * ```
 */
export const InvalidOptionError = coded<'FST_SCHEDULER_INVALID_OPTION', [string]>(
  'FST_SCHEDULER_INVALID_OPTION', '%s', 500)

/**
 * No credentials configured for the routes. Fails the boot.
 *
 * @example
 * ```ts
 * // SCHEDULE_TOKEN unset and no auth option: the boot fails with FST_SCHEDULER_NO_AUTH.
 * await app.register(fastifyScheduler, { auth: { tokens: [process.env.CRON_SECRET!] } }) // fix
 * ```
 */
export const MissingAuthError = coded<'FST_SCHEDULER_NO_AUTH', []>(
  'FST_SCHEDULER_NO_AUTH',
  'no auth configured for the /_schedule routes. Set SCHEDULE_TOKEN in the environment ' +
  '(at least 16 characters; comma-separated for several), or pass auth: { tokens: [...] } or ' +
  'auth: { authorize (request) { ... } } to the plugin, or auth: false to opt out explicitly.', 500)

/**
 * Two tasks share one name. Fails the boot, naming both sources.
 *
 * @example
 * ```ts
 * // tasks/prune.ts and tasks/nightly/prune.ts both default to the name "prune":
 * // FST_SCHEDULER_DUPLICATE_TASK two tasks are named "prune": ... and ...
 * export default defineTask({ name: 'prune-nightly', runAt: '03:00', handle () {} }) // fix
 * ```
 */
export const DuplicateTaskError = coded<'FST_SCHEDULER_DUPLICATE_TASK', [string, string, string]>(
  'FST_SCHEDULER_DUPLICATE_TASK', 'two tasks are named "%s": %s and %s. Give one a different name property or file name.', 500)

/**
 * A task export is not a task, or one of its properties is wrong. Fails the boot. The
 * message is built whole by the caller, starting with the source (a file path or
 * `options.tasks[i]`).
 *
 * @example
 * ```ts
 * // tasks/report.ts: export default { run_every: '3 days', handle () {} } fails the boot with
 * // FST_SCHEDULER_INVALID_TASK tasks/report.ts: unknown property "run_every" — did you mean "runEvery"?
 * ```
 */
export const InvalidTaskError = coded<'FST_SCHEDULER_INVALID_TASK', [string]>(
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
export const InvalidScheduleError = coded<'FST_SCHEDULER_INVALID_SCHEDULE', [string]>(
  'FST_SCHEDULER_INVALID_SCHEDULE', '%s', 500)

/**
 * `app.scheduler.add()` was called after the app was ready.
 *
 * @example
 * ```ts
 * await app.ready()
 * try { app.scheduler.add(lateTask) } catch (err) { if (err instanceof TooLateError) console.error(err.message) }
 * // app.scheduler.add() must be called before the app is ready
 * ```
 */
export const TooLateError = coded<'FST_SCHEDULER_TOO_LATE', [string]>(
  'FST_SCHEDULER_TOO_LATE', '%s must be called before the app is ready', 500)

// ── Ticks and runs ─────────────────────────────────────────────────────────────────────────

/**
 * A task name given to tick/run/the trigger route does not exist (HTTP 404, CLI exit 2).
 *
 * @example
 * ```ts
 * await app.scheduler.run('prnue', { force: true })
 *   .catch(err => { if (err instanceof UnknownTaskError) app.log.warn(err.message) })
 * ```
 */
export const UnknownTaskError = coded<'FST_SCHEDULER_UNKNOWN_TASK', [string]>(
  'FST_SCHEDULER_UNKNOWN_TASK', 'unknown task "%s"', 404)

/**
 * The store could not be reached: nothing ran (HTTP 503, CLI exit 4). Every driver failure
 * of a store becomes this error (see `storeUnavailable`).
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
export const StoreUnavailableError = coded<'FST_SCHEDULER_STORE_UNAVAILABLE', [string]>(
  'FST_SCHEDULER_STORE_UNAVAILABLE', 'the store is unavailable, no task ran: %s', 503)

/**
 * A store could not be opened at boot for a reason a retry will not fix (a path that cannot be
 * written, a read-only file system): `%s` names the store, the absolute path, the reason and
 * the way out. Fails the boot; the CLI exits 4, as for an unavailable store.
 *
 * @example
 * ```ts
 * // cwd read-only (serverless): the default ./.fastify-scheduler.sqlite cannot be created.
 * // FST_SCHEDULER_STORE_OPEN cannot open the SQLite store at /var/task/.fastify-scheduler.sqlite: ...
 * await app.register(fastifyScheduler, { store: sqliteStore({ path: '/tmp/scheduler.sqlite' }) }) // or a network store
 * ```
 */
export const StoreOpenError = coded<'FST_SCHEDULER_STORE_OPEN', [string]>(
  'FST_SCHEDULER_STORE_OPEN', '%s', 500)

/**
 * The scheduler is closing or closed (HTTP 503).
 *
 * @example
 * ```ts
 * await app.close()
 * await app.scheduler.tick().catch(err => { if (err instanceof ClosedError) console.error(err.message) })
 * // the scheduler is closed
 * ```
 */
export const ClosedError = coded<'FST_SCHEDULER_CLOSED', []>(
  'FST_SCHEDULER_CLOSED', 'the scheduler is closed', 503)

/**
 * Wrap any driver error from a store call into StoreUnavailableError, keeping the cause.
 *
 * @example
 * ```ts
 * try { await client.call() } catch (err) { throw storeUnavailable(err) }
 * ```
 */
export function storeUnavailable (cause: unknown): Error {
  if (cause instanceof StoreUnavailableError) return cause
  const message = cause instanceof Error ? cause.message : String(cause)
  const err = new StoreUnavailableError(message)
  err.cause = cause
  return err
}

// ── HTTP answers of the /_schedule routes (JSON `{ statusCode, code, error, message }`) ────

/**
 * Input that does not match a route's schema (HTTP 400): `%s` names the field and what it accepts.
 *
 * @example
 * ```ts
 * const res = await app.inject({ method: 'POST', url: '/_schedule/run', headers, payload: { wait: 'yes' } })
 * // 400 { code: 'FST_SCHEDULER_INVALID_INPUT', message: 'body.wait: expected a boolean ...' }
 * ```
 */
export const InvalidInputError = coded<'FST_SCHEDULER_INVALID_INPUT', [string]>(
  'FST_SCHEDULER_INVALID_INPUT', '%s', 400)

/**
 * A run's payload does not match the task's `payload` schema, or the task takes none (HTTP 400;
 * nothing runs): `%s` names the task and the field at fault (docs/PAYLOADS.md#payloads).
 *
 * @example
 * ```ts
 * await app.scheduler.run('refund', { payload: { amount: 'ten' } })
 * // FST_SCHEDULER_INVALID_PAYLOAD task "refund": payload.amount: expected number
 * ```
 */
export const InvalidPayloadError = coded<'FST_SCHEDULER_INVALID_PAYLOAD', [string]>(
  'FST_SCHEDULER_INVALID_PAYLOAD', '%s', 400)

/**
 * A run's payload is larger than the plugin option `maxPayloadSize` (HTTP 413; nothing runs).
 *
 * @example
 * ```ts
 * // 413 { code: 'FST_SCHEDULER_PAYLOAD_TOO_LARGE', message: 'task "refund": the payload is 20000 bytes as JSON; maxPayloadSize is 16384' }
 * ```
 */
export const PayloadTooLargeError = coded<'FST_SCHEDULER_PAYLOAD_TOO_LARGE', [string]>(
  'FST_SCHEDULER_PAYLOAD_TOO_LARGE', '%s', 413)

/**
 * A non-empty body of a kind the trigger does not read (HTTP 415).
 *
 * @example
 * ```ts
 * const res = await app.inject({ method: 'POST', url: '/_schedule/run', headers: { ...headers, 'content-type': 'text/plain' }, payload: 'go' })
 * // 415 { code: 'FST_SCHEDULER_UNSUPPORTED_BODY', ... }
 * ```
 */
export const UnsupportedBodyError = coded<'FST_SCHEDULER_UNSUPPORTED_BODY', [string]>(
  'FST_SCHEDULER_UNSUPPORTED_BODY', 'a body of type %s is not read here: send JSON, a form, or no body at all', 415)

/**
 * Missing, invalid or refused credentials (HTTP 401, with a `WWW-Authenticate` challenge).
 *
 * @example
 * ```ts
 * const res = await app.inject({ method: 'POST', url: '/_schedule/run' })
 * // 401 { code: 'FST_SCHEDULER_UNAUTHORIZED', message: 'Missing credentials: ...' }
 * ```
 */
export const UnauthorizedError = coded<'FST_SCHEDULER_UNAUTHORIZED', [string]>(
  'FST_SCHEDULER_UNAUTHORIZED', '%s', 401)

/**
 * A method that does not trigger a tick, e.g. GET /_schedule/run without `allowGetTrigger` (HTTP 405).
 *
 * @example
 * ```ts
 * const res = await app.inject({ method: 'GET', url: '/_schedule/run', headers })
 * // 405 { code: 'FST_SCHEDULER_METHOD_NOT_ALLOWED', ... }, allow: POST
 * ```
 */
export const MethodNotAllowedError = coded<'FST_SCHEDULER_METHOD_NOT_ALLOWED', [string]>(
  'FST_SCHEDULER_METHOD_NOT_ALLOWED', '%s', 405)

/**
 * No route at this path under the prefix (HTTP 404).
 *
 * @example
 * ```ts
 * const res = await app.inject({ method: 'GET', url: '/_schedule/nope', headers })
 * // 404 { code: 'FST_SCHEDULER_NOT_FOUND', message: 'no route GET /_schedule/nope' }
 * ```
 */
export const NotFoundError = coded<'FST_SCHEDULER_NOT_FOUND', [string]>(
  'FST_SCHEDULER_NOT_FOUND', '%s', 404)

/**
 * A 4xx error of Fastify's or a hook's that came without a code of its own (HTTP 4xx, the
 * original status kept).
 *
 * @example
 * ```ts
 * // an onRequest hook throws Object.assign(new Error('slow down'), { statusCode: 429 }):
 * // 429 { code: 'FST_SCHEDULER_BAD_REQUEST', message: 'slow down' }
 * ```
 */
export const BadRequestError = coded<'FST_SCHEDULER_BAD_REQUEST', [string]>(
  'FST_SCHEDULER_BAD_REQUEST', '%s', 400)

/**
 * A fault of our own in a route (HTTP 500): the details go to the server log only.
 *
 * @example
 * ```ts
 * // 500 { code: 'FST_SCHEDULER_INTERNAL', message: 'Internal error; the server log has the details' }
 * ```
 */
export const InternalError = coded<'FST_SCHEDULER_INTERNAL', []>(
  'FST_SCHEDULER_INTERNAL', 'Internal error; the server log has the details', 500)

/**
 * True for any coded error defined above: one this package already explained, which a layer
 * that wraps driver errors (a store's connection handling, say) passes through as it is.
 */
export function isSchedulerError (err: unknown): boolean {
  return CODED.some(ErrorClass => err instanceof ErrorClass)
}
