/**
 * The runner: starts a run with ONE atomic store step (claim + lease + `running` record),
 * calls `handle(ctx)`, enforces the timeout through `ctx.signal`, keeps the lease while the
 * run lasts (and aborts the run when it loses it), writes the final record — retrying it in
 * the background while the store is down — and then calls the hooks. One run's failure
 * never reaches another run. The fault model is in `docs/ARCHITECTURE.md`.
 */
import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { ResolvedTask, RunTrigger, TaskContext, TaskRequestInfo } from '../tasks/types.js'
import { floorToMinute } from '../core/time.js'
import type { FinalRecords } from './final-records.js'
import { callBounded, HOOK_TIMEOUT_MS, pingHeartbeat, type RunHooks } from './hooks.js'
import { BUFFERED_REASON } from './stores/history.js'
import type { PendingRetry, RunCovers, RunRecord, StartClaim, Store } from './stores/store.js'
import { capturingLogger, RunOutput } from './run-output.js'
import { describeThrown, loggableError } from './thrown.js'
import type { RunOutcome } from './types.js'
import type { Observer } from './observe.js'

export interface RunnerDeps {
  app: FastifyInstance
  store: Store
  log: FastifyBaseLogger
  clock: () => number
  leaseMs: number
  historyLimit: number
  /** This process, as run records name it (`host:pid`). */
  instance: string
  /** The plugin-wide retry policy, for tasks that set none. */
  retries: { attempts: number, delayMs: number } | undefined
  hooks: RunHooks
  /**
   * An occurrence was buffered behind the run `holder` (docs/OVERLAP.md): the scheduler
   * remembers it, and under `cancelOther` stops the holder at once when it runs here.
   */
  onBuffered: (task: ResolvedTask, of: Date, holder: string) => void
  /** A retry was set for a task: the scheduler wakes at its time. */
  onRetry: (task: string, retry: PendingRetry) => void
  /** Work that outlives the run's outcome (hooks): close waits for it. */
  track: (work: Promise<unknown>) => void
  /** Writes final records, keeping those the store could not take until it can. */
  finals: FinalRecords
  /** The fencing tokens this process has seen: a store that goes back in time is caught here. */
  fence: FenceWatch
  /** A run ended badly and its record is written: the scheduler judges `pauseOnFailure` (docs/PAUSE.md). */
  onFailed: (task: ResolvedTask, run: RunRecord) => Promise<void>
  /** Metrics and spans of runs (docs/OBSERVABILITY.md); `NO_OBSERVER` when both are off. */
  observer: Observer
  /** Keep what a run logs through `ctx.log` with its record, up to `maxBytes` (docs/RUN-OUTPUT.md); false: not kept. */
  runOutput: false | { maxBytes: number }
}

/**
 * What the runner asks of the scheduler about fencing tokens (see
 * `docs/ARCHITECTURE.md#a-store-that-goes-back-in-time`): `seen()` is the largest token seen
 * so far, read before a start is sent; `accept(token, seenBefore)` records a token the store
 * handed out and returns false when it is not larger than what was seen before the call — the
 * store went back in time.
 */
export interface FenceWatch {
  seen: () => number
  accept: (token: number, seenBefore: number) => boolean
}

export interface RunRequest {
  task: ResolvedTask
  scheduledFor: Date
  trigger: RunTrigger
  forced: boolean
  attempt: number
  claim: StartClaim
  request: TaskRequestInfo | undefined
  /** The checked payload of a forced run, or undefined. */
  payload?: unknown
  /**
   * The tick's `now` (ms). Retry times are on the schedule's time line — the ticks' — so a
   * test driving time with `tick(now)` sees retries fall due as production does.
   */
  tickMs: number
  /** The occurrences this run stands for, when catch-up coalesced several (docs/RUN-OUTPUT.md#covers). */
  covers?: RunCovers | undefined
  /** Claim `backfill`: the backfill whose cursor is claimed, and the occurrence after it (docs/PAYLOADS.md#backfills). */
  backfill?: { id: string, next?: Date }
}

/** A run that has started: its id, how to stop it, and when it ends. */
export interface ActiveRun {
  runId: string
  task: string
  scheduledFor: Date
  /** The door that started it (a buffered run started when it ends inherits it). */
  trigger: RunTrigger
  controller: AbortController
  /** Resolves with the outcome when the run finished or timed out (never rejects). */
  outcome: Promise<RunOutcome>
  /** Resolves when `handle` has actually settled and the lease is released. */
  settled: Promise<void>
}

/** What starting a run can give: a run, an immediate outcome, or "the store's state moved: reload". */
export type StartResult = ActiveRun | RunOutcome | 'stale'

/** Why a run's signal fired. */
export class RunAbortedError extends Error {
  constructor (readonly reason: 'timeout' | 'shutdown' | 'lease lost' | 'superseded', message: string) {
    super(message)
    this.name = reason === 'timeout' ? 'TimeoutError' : 'AbortError'
  }
}

/** The lease key of a run: one per task, or one per run when overlap is allowed. */
export function leaseKey (task: ResolvedTask, runId: string): string {
  return task.overlap === 'allow' ? `${task.name}#${runId}` : task.name
}

/** The reason of a `buffer` claim answered `busy`: the buffered run waits (nothing was written). */
export const BUSY_REASON = 'buffered: the running run has not ended'

/** True for the policies that leave a buffered run in the store (docs/OVERLAP.md). */
export function buffers (task: ResolvedTask): task is ResolvedTask & { overlap: 'bufferOne' | 'cancelOther' } {
  return task.overlap === 'bufferOne' || task.overlap === 'cancelOther'
}

/** The signal reason of a run superseded under `overlap: 'cancelOther'`. */
export function supersededError (task: string): RunAbortedError {
  return new RunAbortedError('superseded', `task "${task}": superseded by a newer occurrence (overlap: 'cancelOther')`)
}

/** The retry policy in force for a task: its own, else the plugin's; undefined for none. */
export function retryPolicy (deps: Pick<RunnerDeps, 'retries'>, task: ResolvedTask): { attempts: number, delayMs: number } | undefined {
  if (task.retries === false) return undefined
  return task.retries ?? deps.retries
}

/**
 * The retry owed after a run of `attempt` ended badly at `endedMs`, if the policy allows one:
 * `delay` later, and no sooner than `graceMs` (an abandoned run's late result may still land).
 * Forced runs are not retried.
 */
export function retryAfter (deps: Pick<RunnerDeps, 'retries'>, task: ResolvedTask, run: Pick<RunRecord, 'scheduledFor' | 'attempt' | 'forced'>, endedMs: number, graceMs = 0): PendingRetry | undefined {
  const policy = retryPolicy(deps, task)
  if (policy === undefined || run.forced || run.attempt >= policy.attempts) return undefined
  // Seconds never matter (docs/ARCHITECTURE.md#retries): the retry is due in the minute `delay` after the failure.
  const at = endedMs + Math.max(policy.delayMs, graceMs)
  return { of: run.scheduledFor, attempt: run.attempt + 1, at: new Date(floorToMinute(at)) }
}

/**
 * Start a run in one store step. Resolves with the ActiveRun; with a `skipped` outcome when
 * the occurrence was claimed elsewhere or the previous run still holds the lease; or with
 * 'stale' when the store's task state is not what this process believed. Store errors reject
 * (nothing was started and, the step being atomic, nothing moved in the store — or, if the
 * answer was lost after the store committed, a `running` record whose lease will expire).
 */
export async function startRun (deps: RunnerDeps, req: RunRequest): Promise<StartResult> {
  const { task } = req
  const runId = randomUUID()
  // A backfill's runs hold a lease of their own: one at a time, oldest first, and never
  // starved by the task's scheduled runs (docs/PAYLOADS.md#backfills).
  const key = req.claim === 'backfill' && task.overlap !== 'allow' ? `${task.name}#backfill` : leaseKey(task, runId)
  const nowMs = deps.clock()
  const record: RunRecord = {
    id: runId,
    task: task.name,
    scheduledFor: req.scheduledFor,
    trigger: req.trigger,
    startedAt: new Date(nowMs),
    status: 'running',
    attempt: req.attempt,
    forced: req.forced,
    instance: deps.instance
  }
  if (req.covers !== undefined) record.covers = req.covers
  // Checked against maxPayloadSize before the tick (docs/PAYLOADS.md#payloads): the record keeps it bounded.
  if (req.payload !== undefined) record.payload = JSON.stringify(req.payload)
  const seenBefore = deps.fence.seen()
  const result = await deps.store.startRun({
    run: record,
    claim: req.claim,
    lease: { key, ttlMs: deps.leaseMs, nowMs },
    historyLimit: deps.historyLimit,
    ...(req.claim === 'occurrence' && buffers(task) ? { overlap: task.overlap } : {}),
    ...(req.backfill !== undefined ? { backfill: req.backfill } : {})
  })
  const scheduledFor = req.scheduledFor.toISOString()
  if (req.covers !== undefined && (result.outcome === 'started' || result.outcome === 'overlap')) noteCoalesced(deps, task.name, req.covers)
  switch (result.outcome) {
    case 'started':
      if (!deps.fence.accept(result.leaseToken, seenBefore)) {
        // The store handed out a token it had handed out before: its state is older than what
        // this process saw, and this occurrence may have run already. It does not run; the
        // record says why, and the caller rebases the store and decides again.
        const error = `not run: the store went back in time (lease token ${result.leaseToken}, this process had seen ${seenBefore})`
        deps.log.error({ task: task.name, runId, scheduledFor: req.scheduledFor }, error)
        await deps.finals.write({ ...record, status: 'skipped', finishedAt: record.startedAt, durationMs: 0, error }, { leaseKey: key, historyLimit: deps.historyLimit }, deps.log)
        deps.observer.recorded(task.name, 'skipped')
        return 'stale'
      }
      if (result.abandoned !== undefined) {
        deps.log.warn({ task: task.name, runId: result.abandoned }, 'run abandoned: its lease expired while it was running')
      }
      return execute(deps, req, record, key, result.leaseToken)
    case 'overlap':
      deps.log.info({ task: task.name, runId, scheduledFor: req.scheduledFor }, 'task skipped: the previous run still holds the lease')
      deps.observer.recorded(task.name, 'skipped')
      return { task: task.name, status: 'skipped', runId, reason: 'overlap', scheduledFor }
    case 'buffered':
      deps.log.info({ task: task.name, runId, scheduledFor: req.scheduledFor, holder: result.holder, overlap: task.overlap }, 'task buffered: it runs when the running run ends')
      deps.onBuffered(task, req.scheduledFor, result.holder)
      return { task: task.name, status: 'buffered', runId, reason: BUFFERED_REASON, scheduledFor }
    case 'busy':
      return { task: task.name, status: 'skipped', reason: BUSY_REASON, scheduledFor }
    case 'stale':
      return 'stale'
    case 'paused':
      return pausedOutcome(task.name, scheduledFor)
    default:
      return { task: task.name, status: 'skipped', reason: 'claimed elsewhere', scheduledFor }
  }
}

/** The reason of a start the store refused because the task is paused (docs/PAUSE.md). */
export const PAUSED_REASON = 'paused'

function pausedOutcome (task: string, scheduledFor: string): RunOutcome {
  return { task, status: 'skipped', reason: PAUSED_REASON, scheduledFor }
}

/** True for the outcome of a start refused because the task is paused: nothing was claimed. */
export function isPausedOutcome (result: StartResult): boolean {
  return typeof result === 'object' && !isActiveRun(result) && result.status === 'skipped' && result.reason === PAUSED_REASON && result.runId === undefined
}

/** Claim an occurrence too late for `catchUp` and record it `missed`, in one store step. */
export async function recordMissed (deps: RunnerDeps, task: ResolvedTask, occurrence: Date, trigger: RunTrigger, reason: string, covers?: RunCovers): Promise<RunOutcome | 'stale'> {
  const at = new Date(deps.clock())
  const run: RunRecord = {
    id: randomUUID(),
    task: task.name,
    scheduledFor: occurrence,
    trigger,
    startedAt: at,
    finishedAt: at,
    durationMs: 0,
    status: 'missed',
    error: reason,
    attempt: 1,
    forced: false,
    instance: deps.instance
  }
  if (covers !== undefined) run.covers = covers
  const result = await deps.store.startRun({ run, claim: 'occurrence', historyLimit: deps.historyLimit })
  const scheduledFor = occurrence.toISOString()
  if (result.outcome === 'stale') return 'stale'
  if (result.outcome === 'paused') return pausedOutcome(task.name, scheduledFor)
  if (result.outcome !== 'recorded') return { task: task.name, status: 'skipped', reason: 'claimed elsewhere', scheduledFor }
  if (covers !== undefined) noteCoalesced(deps, task.name, covers)
  deps.log.warn({ task: task.name, scheduledFor: occurrence, ...(covers !== undefined ? { covers: covers.count } : {}) }, `occurrence missed: ${reason}`)
  deps.observer.recorded(task.name, 'missed')
  return { task: task.name, status: 'missed', runId: run.id, reason, scheduledFor }
}

/** Tell the observer that `covers.count - 1` occurrences got no run of their own; an observer that throws changes nothing. */
function noteCoalesced (deps: RunnerDeps, task: string, covers: RunCovers): void {
  try {
    deps.observer.coalesced(task, covers.count - 1)
  } catch (err) {
    deps.log.warn({ task, err: loggableError(err) }, 'the observer\'s coalesced() threw; ignored')
  }
}

function execute (deps: RunnerDeps, req: RunRequest, record: RunRecord, key: string, leaseToken: number): ActiveRun {
  const { store, clock } = deps
  const task = req.task
  const runId = record.id
  const log = deps.log.child({ task: task.name, runId })
  const output = deps.runOutput === false ? undefined : new RunOutput(deps.runOutput.maxBytes)
  const controller = new AbortController()
  const startedMs = record.startedAt.getTime()
  const watch = deps.observer.runStarted({
    task: task.name, runId, scheduledFor: record.scheduledFor, startedMs, trigger: req.trigger, forced: req.forced, attempt: req.attempt
  })

  let resolveOutcome!: (outcome: RunOutcome) => void
  const outcome = new Promise<RunOutcome>(resolve => { resolveOutcome = resolve })
  let finished = false
  let leaseLost: string | undefined

  const ctx: TaskContext = {
    app: deps.app,
    log: output === undefined ? log : capturingLogger(log, output, clock),
    runId,
    task: task.name,
    scheduledFor: record.scheduledFor,
    trigger: req.trigger,
    forced: req.forced,
    attempt: req.attempt,
    leaseToken,
    signal: controller.signal,
    request: req.request,
    payload: req.payload
  }

  /** Record how the run ended (once), then notify; returns the outcome. */
  const finish = async (ended: 'succeeded' | 'failed' | 'timed_out', thrown: unknown, releaseLease: boolean): Promise<RunOutcome | undefined> => {
    if (finished) return undefined
    finished = true
    // A run that stopped because a newer occurrence superseded it was cancelled, not failed.
    const superseded = ended === 'failed' && (controller.signal.reason as RunAbortedError | undefined)?.reason === 'superseded'
    const status = superseded ? 'cancelled' : ended
    const finishedAt = new Date(clock())
    const durationMs = Math.max(0, finishedAt.getTime() - startedMs)
    const final: RunRecord = { ...record, status, finishedAt, durationMs }
    watch.end({ status, durationMs, thrown, leaseLost })
    const text = output?.text()
    if (text !== undefined) final.output = text
    if (superseded) {
      final.error = (controller.signal.reason as RunAbortedError).message
    } else if (status !== 'succeeded') {
      const { message, stack } = describeThrown(thrown)
      final.error = message
      if (stack !== undefined) final.stack = stack
    } else if (leaseLost !== undefined) {
      final.error = `succeeded after ${leaseLost}`
    }
    // A backfilled occurrence is not retried: the backfill moved on (docs/PAYLOADS.md#backfills).
    const retry = status === 'succeeded' || status === 'cancelled' || req.claim === 'backfill' ? undefined : retryAfter(deps, task, final, req.tickMs + durationMs)
    await deps.finals.write(final, { historyLimit: deps.historyLimit, ...(releaseLease ? { leaseKey: key } : {}), ...(retry !== undefined ? { retry } : {}) }, log)
    if (retry !== undefined) deps.onRetry(task.name, retry)
    if (status === 'succeeded') log.info({ durationMs }, 'task finished')
    else if (status === 'cancelled') log.warn({ durationMs }, final.error)
    else log.error({ durationMs, err: loggableError(thrown), ...(retry !== undefined ? { retryAt: retry.at } : {}) }, status === 'timed_out' ? 'task timed out' : 'task failed')
    deps.track(notifyEnd(deps, task, ctx, final, thrown, log))
    return {
      task: task.name,
      status,
      runId,
      scheduledFor: record.scheduledFor.toISOString(),
      durationMs,
      ...(final.error !== undefined ? { error: final.error } : {})
    }
  }

  const timeout = setTimeout(() => {
    controller.abort(new RunAbortedError('timeout', `task "${task.name}" timed out after ${task.timeoutMs} ms`))
    // Answer now; the lease stays held (and renewed) until handle really settles.
    void finish('timed_out', controller.signal.reason, false).then(result => { if (result !== undefined) resolveOutcome(result) })
  }, task.timeoutMs)
  // The timeout holds the process while a run lasts (a CLI `run` must not exit mid-run);
  // shutdown clears it, so it never outlives the run's signal.
  controller.signal.addEventListener('abort', () => {
    if ((controller.signal.reason as RunAbortedError | undefined)?.reason === 'shutdown') clearTimeout(timeout)
  }, { once: true })

  const loseLease = (why: string): void => {
    if (leaseLost !== undefined) return
    leaseLost = `lease lost: ${why}`
    log.error({ leaseToken }, `${leaseLost}; aborting the run (another process may start this task)`)
    if (!controller.signal.aborted) controller.abort(new RunAbortedError('lease lost', `task "${task.name}": ${leaseLost}`))
  }

  // The lease is renewed every third of its time. If no renewal succeeded for a whole lease
  // time (the store unreachable, or this event loop blocked), the lease may have expired and
  // been taken: the run is told through its signal rather than going on as if it held it.
  let watchdog = setTimeout(() => loseLease(`could not renew it within ${deps.leaseMs} ms (store unreachable or event loop blocked)`), deps.leaseMs)
  watchdog.unref()
  const renewal = setInterval(() => {
    const nowMs = clock()
    store.renewLease(key, runId, deps.leaseMs, nowMs).then(held => {
      if (!held) {
        loseLease('another process took it, or it expired and was reaped')
        return
      }
      // Superseded (overlap: 'cancelOther'): the lease is still ours until handle settles,
      // so the newer occurrence starts only after this run stopped (docs/OVERLAP.md).
      if (held === 'superseded' && !controller.signal.aborted) controller.abort(supersededError(task.name))
      clearTimeout(watchdog)
      if (leaseLost === undefined) {
        watchdog = setTimeout(() => loseLease(`could not renew it within ${deps.leaseMs} ms (store unreachable or event loop blocked)`), deps.leaseMs)
        watchdog.unref()
      }
    }, (err: unknown) => log.warn({ err }, 'could not renew the lease'))
  }, Math.max(1, Math.floor(deps.leaseMs / 3)))
  renewal.unref()

  log.info({ scheduledFor: record.scheduledFor, trigger: req.trigger, attempt: req.attempt }, 'task started')
  deps.track(notifyStart(deps, task, record, log))
  const settled = (async () => {
    let result: RunOutcome | undefined
    try {
      await watch.within(() => task.handle(ctx))
      result = await finish('succeeded', undefined, true)
    } catch (err) {
      result = await finish('failed', err, true)
    } finally {
      clearTimeout(timeout)
      clearTimeout(watchdog)
      clearInterval(renewal)
    }
    // A timed-out run's record is written; release the lease it kept until handle settled.
    if (result === undefined) await store.releaseLease(key, runId).catch((err: unknown) => log.warn({ err }, 'could not release the lease'))
    // Resolve after the release, so whoever acts on the outcome finds the lease free.
    if (result !== undefined) resolveOutcome(result)
  })()

  return { runId, task: task.name, scheduledFor: record.scheduledFor, trigger: req.trigger, controller, outcome, settled }
}

async function notifyStart (deps: RunnerDeps, task: ResolvedTask, record: RunRecord, log: FastifyBaseLogger): Promise<void> {
  await Promise.all([
    deps.hooks.call('onRunStart', record, log),
    task.heartbeat === undefined ? undefined : pingHeartbeat(task.heartbeat, 'start', log)
  ])
}

async function notifyEnd (deps: RunnerDeps, task: ResolvedTask, ctx: TaskContext, final: RunRecord, thrown: unknown, log: FastifyBaseLogger): Promise<void> {
  const ok = final.status === 'succeeded'
  // A superseded run neither failed nor succeeded: only the onRunEnd hooks hear of it.
  if (final.status === 'cancelled') return await deps.hooks.call('onRunEnd', final, log)
  await Promise.all([
    deps.hooks.call('onRunEnd', final, log),
    task.heartbeat === undefined ? undefined : pingHeartbeat(task.heartbeat, ok ? 'success' : 'fail', log, heartbeatBody(final)),
    ok
      ? task.onSuccess === undefined ? undefined : callBounded('onSuccess', log, HOOK_TIMEOUT_MS, () => task.onSuccess!(ctx))
      : task.onFailure === undefined ? undefined : callBounded('onFailure', log, HOOK_TIMEOUT_MS, () => task.onFailure!(ctx, thrown)),
    ok ? undefined : deps.onFailed(task, final).catch((err: unknown) => log.error({ err }, 'could not judge pauseOnFailure'))
  ])
}

/**
 * The body of a heartbeat ping at the end of a run (Healthchecks.io shows it): the error of a
 * run that did not succeed, then the run's output. Bounded by Healthchecks.io's 100 kB.
 */
export function heartbeatBody (run: RunRecord): string | undefined {
  const parts = [run.error, run.output].filter((part): part is string => part !== undefined && part !== '')
  if (parts.length === 0) return undefined
  const body = parts.join('\n\n')
  return body.length > 100_000 ? body.slice(-100_000) : body
}

/** True when `value` is an ActiveRun rather than an immediate outcome. */
export function isActiveRun (value: StartResult): value is ActiveRun {
  return typeof value === 'object' && 'controller' in value
}
