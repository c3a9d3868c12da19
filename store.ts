/**
 * `fastify-scheduler/store`: what a third-party store needs, beside the conformance suite in
 * `fastify-scheduler/testing`. An app author needs none of it: the package root exports the
 * stores, the `Store` type a `store` option takes, and the run history's types.
 *
 * The contract is described in docs/ARCHITECTURE.md#the-store-contract; every method is one
 * atomic step, and every driver failure must become `StoreUnavailableError` (`storeUnavailable`).
 *
 * @example
 * ```ts
 * import { storeUnavailable, whyNotAStore, pageOfRuns, type Store } from 'fastify-scheduler/store'
 *
 * export function myStore (client: MyClient): Store {
 *   const store: Store = {
 *     kind: 'mine',
 *     durable: true,
 *     async listRuns (query) {
 *       const { limit, offset } = pageOfRuns(query)
 *       try { return await client.page(query, limit, offset) } catch (err) { throw storeUnavailable(err) }
 *     },
 *     // … init, close, ensureTasks, startRun, renewLease, releaseLease, finishRun, …
 *   }
 *   const problem = whyNotAStore(store) // undefined, or 'missing method renewLease'
 *   if (problem !== undefined) throw new Error(problem)
 *   return store
 * }
 * ```
 */
export type {
  Store, RunRecord, RunStatus, FinalStatus, TaskState, HistoryQuery, HistoryPage, PendingRetry, StartClaim,
  StartRunRequest, StartRunResult, FinishRunOptions, TaskRetry, ClusterState, StoreInitContext, OverlapAction, TaskBuffered,
  PauseInfo, TaskPause, PauseRequest, ResumeRequest, Backfill, BackfillRequest
} from './plugin/stores/store.js'
/** The methods every store must have (checked at registration), and the check itself. */
export { STORE_METHODS, RUN_STATUSES, whyNotAStore } from './plugin/stores/store.js'
/** The history rules every store shares: order, paging, pruning, the overlap record, the settled statuses. */
export {
  compareRunsNewestFirst, pageOfRuns, pruneVictims, overlapRecord, SETTLED_STATUSES, DEFAULT_PAGE_SIZE, TAKEOVER_REASON,
  comparePauses
} from './plugin/stores/history.js'
/** Run one driver call, turning any failure into `StoreUnavailableError`. */
export { withStoreErrors } from './plugin/stores/driver.js'
/** The coded error every driver failure becomes, and the wrapper that makes it. */
export { StoreUnavailableError, InvalidOptionError, storeUnavailable } from './core/errors.js'
