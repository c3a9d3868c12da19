/**
 * One way to bound a wait: race a promise against a timer, and clear the timer whichever
 * comes first, so no finished wait leaves a timer behind (or holds the process).
 */

/** What `withDeadline` resolves to when the deadline passed first and no `onTimeout` was given. */
export const TIMED_OUT: unique symbol = Symbol('timed out')

export interface DeadlineOptions {
  /** Let the process exit while the timer is pending (default false: the timer holds it at most `ms`). */
  unref?: boolean
}

export interface DeadlineWithFallback<F> extends DeadlineOptions {
  /** Called once the deadline passed first: its value is resolved, its throw is the rejection. */
  onTimeout: () => F
}

/**
 * `work`'s value (or rejection) if it settles within `ms`; otherwise `TIMED_OUT`, or what
 * `onTimeout()` returns or throws. `work` may be a promise or a function, whose synchronous
 * throw becomes the rejection. Work that settles after the deadline is ignored (its
 * rejection too: it is handled here).
 *
 * @example
 * ```ts
 * if (await withDeadline(hook(run), 5000) === TIMED_OUT) log.warn('the hook took longer than 5 s')
 * const outcomes = await withDeadline(result.settled, maxWaitMs, { unref: true, onTimeout: () => undefined })
 * await withDeadline(() => store.listRuns(query), 2000, {
 *   onTimeout: () => { throw new StoreUnavailableError('listRuns() did not answer within 2000 ms') }
 * })
 * ```
 */
export function withDeadline<T> (work: PromiseLike<T> | (() => T | PromiseLike<T>), ms: number, options?: DeadlineOptions): Promise<T | typeof TIMED_OUT>
export function withDeadline<T, F> (work: PromiseLike<T> | (() => T | PromiseLike<T>), ms: number, options: DeadlineWithFallback<F>): Promise<T | F>
export function withDeadline<T, F> (
  work: PromiseLike<T> | (() => T | PromiseLike<T>), ms: number, options: DeadlineOptions & { onTimeout?: () => F } = {}
): Promise<T | F | typeof TIMED_OUT> {
  return new Promise<T | F | typeof TIMED_OUT>((resolve, reject) => {
    const timer = setTimeout(() => {
      try {
        resolve(options.onTimeout === undefined ? TIMED_OUT : options.onTimeout())
      } catch (err) {
        reject(err)
      }
    }, ms)
    if (options.unref === true) timer.unref()
    let pending: PromiseLike<T>
    try {
      pending = Promise.resolve(typeof work === 'function' ? work() : work)
    } catch (err) {
      pending = Promise.reject(err)
    }
    pending.then(value => {
      clearTimeout(timer)
      resolve(value)
    }, (err: unknown) => {
      clearTimeout(timer)
      reject(err)
    })
  })
}
