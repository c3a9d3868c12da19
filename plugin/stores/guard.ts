/**
 * Every store call the scheduler makes goes through this guard: a call that fails, throws
 * synchronously or never answers becomes the coded FST_SCHEDULER_STORE_UNAVAILABLE error,
 * within `timeoutMs` (the `storeTimeout` option). The stores have their own driver timeouts;
 * this one also covers a third-party store, a frozen server behind a user's own client, and
 * a pool that waits forever for a free connection. A call that times out may still complete
 * in the store later: the contract (see `store.ts`, `docs/ARCHITECTURE.md`) makes that safe.
 */
import { withDeadline } from '../../core/deadline.js'
import { StoreOpenError, storeUnavailable } from '../../core/errors.js'
import { STORE_METHODS, type Store } from './store.js'

/** The least time `init()` and `close()` get. */
const LIFECYCLE_MIN_MS = 15_000

/** The store, with every method bounded in time and every failure coded. */
export function guardStore (store: Store, timeoutMs: number): Store {
  const guarded = Object.create(null) as Record<string, unknown>
  // `time()` and `claimOnce()` are optional: guarded only where the store has them.
  const methods: ReadonlyArray<keyof Store> = [
    ...STORE_METHODS,
    ...(typeof store.time === 'function' ? ['time' as const] : []),
    ...(typeof store.claimOnce === 'function' ? ['claimOnce' as const] : [])
  ]
  for (const method of methods) {
    const call = (store[method] as (...args: unknown[]) => Promise<unknown>).bind(store)
    // Opening and closing may create tables or drain a connection: a longer bound, still a bound.
    const limit = method === 'init' || method === 'close' ? Math.max(3 * timeoutMs, LIFECYCLE_MIN_MS) : timeoutMs
    guarded[method] = (...args: unknown[]) => bounded(`${method}`, limit, store.kind, () => call(...args))
  }
  Object.defineProperties(guarded, {
    kind: { get: () => store.kind, enumerable: true },
    durable: { get: () => store.durable, enumerable: true }
  })
  return guarded as unknown as Store
}

/** The call, rejected with the coded error when it fails, throws, or does not answer within `timeoutMs`. */
function bounded<T> (method: string, timeoutMs: number, kind: string, call: () => Promise<T>): Promise<T> {
  // Not unref'd: it holds the process at most timeoutMs, so a CLI run awaiting a frozen
  // store reports the failure instead of exiting silently mid-await.
  return withDeadline(call, timeoutMs, {
    onTimeout: () => { throw new Error(`the ${kind} store did not answer ${method}() within ${timeoutMs} ms`) }
  }).catch((err: unknown) => { throw err instanceof StoreOpenError ? err : storeUnavailable(err) })
}
