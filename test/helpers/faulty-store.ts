/**
 * A store wrapper that injects one fault at a chosen store call, for the deterministic
 * fault-injection suite (test/plugin/faults.slow.test.ts). Calls are numbered from 0 once
 * `arm()` is called; at call `at` it does one of:
 *   error-before  reject without calling the store (the request never reached it)
 *   error-after   call the store, wait for it, then reject (the store committed; the answer was lost)
 *   hang-before   never answer, never call the store
 *   hang-after    call the store, never answer (the store committed; the caller waits forever)
 * `heal()` ends the fault (calls after it pass through).
 */
import type { Store } from '../../plugin/stores/store.js'
import { STORE_METHODS } from '../../plugin/stores/store.js'

export type FaultMode = 'error-before' | 'error-after' | 'hang-before' | 'hang-after'
export const FAULT_MODES: readonly FaultMode[] = ['error-before', 'error-after', 'hang-before', 'hang-after']

export interface FaultyStore {
  store: Store
  /** Start counting calls from 0 and fail call number `at` with `mode`. */
  arm: (at: number, mode: FaultMode) => void
  /** Count calls without failing any (to learn how many calls a scenario makes). */
  count: () => void
  heal: () => void
  /** Calls since arm()/count(), by method. */
  readonly calls: string[]
  /** The method the fault hit, once it did. */
  readonly hit: string | undefined
}

const never = new Promise<never>(() => {})

/** Calls the store's method `method` with `args`. */
export type StoreCall = (...args: unknown[]) => Promise<unknown>

/**
 * A store whose every method goes through `around(method, call, args)`, where `call` reaches
 * the store `inner()` returns at that moment (so a test can swap it for an empty one).
 * `kind` and `durable` are the inner store's unless given.
 */
export function interceptStore (inner: () => Store, around: (method: string, call: StoreCall, args: unknown[]) => Promise<unknown>, identity: { kind?: string, durable?: boolean } = {}): Store {
  const wrapped = Object.create(null) as Record<string, unknown>
  // `time()` is optional: wrapped only where the store has its own clock.
  const methods = typeof inner().time === 'function' ? [...STORE_METHODS, 'time' as const] : STORE_METHODS
  for (const method of methods) {
    const call: StoreCall = (...args) => { const store = inner(); return (store[method] as StoreCall).apply(store, args) }
    wrapped[method] = (...args: unknown[]) => around(method, call, args)
  }
  Object.defineProperties(wrapped, {
    kind: { get: () => identity.kind ?? inner().kind },
    durable: { get: () => identity.durable ?? inner().durable }
  })
  return wrapped as unknown as Store
}

export function faultyStore (inner: Store): FaultyStore {
  let armed: { at: number, mode: FaultMode } | undefined
  let counting = false
  let hit: string | undefined
  const calls: string[] = []
  const store = interceptStore(() => inner, (method, call, args) => {
    if (!counting || method === 'close' || method === 'init') return call(...args)
    const index = calls.length
    calls.push(method)
    if (armed === undefined || index !== armed.at) return call(...args)
    hit = method
    switch (armed.mode) {
      case 'error-before': return Promise.reject(new Error(`injected fault before ${method}`))
      case 'error-after': return call(...args).then(() => { throw new Error(`injected fault after ${method}`) })
      case 'hang-before': return never
      case 'hang-after': return call(...args).then(() => never)
    }
  })
  return {
    store,
    arm (at, mode) { armed = { at, mode }; counting = true; calls.length = 0; hit = undefined },
    count () { armed = undefined; counting = true; calls.length = 0 },
    heal () { armed = undefined; counting = false },
    calls,
    get hit () { return hit }
  }
}
