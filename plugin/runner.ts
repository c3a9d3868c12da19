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
import type { PendingRetry, RunRecord, StartClaim, Store } from './stores/store.js'
import { describeThrown, loggableError } from './thrown.js'
import type { RunOutcome } from './types.js'

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
  /** A retry was set for a task: the scheduler wakes at its time. */
  onRetry: (task: string, retry: PendingRetry) => void
  /** Work that outlives the run's outcome (hooks): close waits for it. */
  track: (work: Promise<unknown>) => void
  /** Writes final records, keeping those the store could not take until it can. */
  finals: FinalRecords
  /** The fencing tokens this process has seen: a store that goes back in time is caught here. */
  fence: FenceWatch
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
}

/** A run that has started: its id, how to stop it, and when it ends. */
export interface ActiveRun {
  runId: string
  task: string
  scheduledFor: Date
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
  constructor (readonly reason: 'timeout' | 'shutdown' | 'lease lost', message: string) {
    super(message)
    this.name = reason === 'timeout' ? 'TimeoutError' : 'AbortError'
  }
}

/** The lease key of a run: one per task, or one per run when overlap is allowed. */
export function leaseKey (task: ResolvedTask, runId: string): string {
  return task.allowOverlap ? `${task.name}#${runId}` : task.name
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
  const key = leaseKey(task, runId)
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
  // Checked against maxPayloadSize before the tick (docs/PAYLOADS.md#payloads): the record keeps it bounded.
  if (req.payload !== undefined) record.payload = JSON.stringify(req.payload)
  const seenBefore = deps.fence.seen()
  const result = await deps.store.startRun({ run: record, claim: req.claim, lease: { key, ttlMs: deps.leaseMs, nowMs }, historyLimit: deps.historyLimit })
  const scheduledFor = req.scheduledFor.toISOString()
  switch (result.outcome) {
    case 'started':
      if (!deps.fence.accept(result.leaseToken, seenBefore)) {
        // The store handed out a token it had handed out before: its state is older than what
        // this process saw, and this occurrence may have run already. It does not run; the
        // record says why, and the caller rebases the store and decides again.
        const error = `not run: the store went back in time (lease token ${result.leaseToken}, this process had seen ${seenBefore})`
        deps.log.error({ task: task.name, runId, scheduledFor: req.scheduledFor }, error)
        await deps.finals.write({ ...record, status: 'skipped', finishedAt: record.startedAt, durationMs: 0, error }, { leaseKey: key, historyLimit: deps.historyLimit }, deps.log)
        return 'stale'
      }
      if (result.abandoned !== undefined) {
        deps.log.warn({ task: task.name, runId: result.abandoned }, 'run abandoned: its lease expired while it was running')
      }
      return execute(deps, req, record, key, result.leaseToken)
    case 'overlap':
      deps.log.info({ task: task.name, runId, scheduledFor: req.scheduledFor }, 'task skipped: the previous run still holds the lease')
      return { task: task.name, status: 'skipped', runId, reason: 'overlap', scheduledFor }
    case 'stale':
      return 'stale'
    default:
      return { task: task.name, status: 'skipped', reason: 'claimed elsewhere', scheduledFor }
  }
}

/** Claim an occurrence too late for `catchUp` and record it `missed`, in one store step. */
export async function recordMissed (deps: RunnerDeps, task: ResolvedTask, occurrence: Date, trigger: RunTrigger, reason: string): Promise<RunOutcome | 'stale'> {
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
  const result = await deps.store.startRun({ run, claim: 'occurrence', historyLimit: deps.historyLimit })
  const scheduledFor = occurrence.toISOString()
  if (result.outcome === 'stale') return 'stale'
  if (result.outcome !== 'recorded') return { task: task.name, status: 'skipped', reason: 'claimed elsewhere', scheduledFor }
  deps.log.warn({ task: task.name, scheduledFor: occurrence }, `occurrence missed: ${reason}`)
  return { task: task.name, status: 'missed', runId: run.id, reason, scheduledFor }
}

function execute (deps: RunnerDeps, req: RunRequest, record: RunRecord, key: string, leaseToken: number): ActiveRun {
  const { store, clock } = deps
  const task = req.task
  const runId = record.id
  const log = deps.log.child({ task: task.name, runId })
  const controller = new AbortController()
  const startedMs = record.startedAt.getTime()

  let resolveOutcome!: (outcome: RunOutcome) => void
  const outcome = new Promise<RunOutcome>(resolve => { resolveOutcome = resolve })
  let finished = false
  let leaseLost: string | undefined

  const ctx: TaskContext = {
    app: deps.app,
    log,
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
  const finish = async (status: 'succeeded' | 'failed' | 'timed_out', thrown: unknown, releaseLease: boolean): Promise<RunOutcome | undefined> => {
    if (finished) return undefined
    finished = true
    const finishedAt = new Date(clock())
    const durationMs = Math.max(0, finishedAt.getTime() - startedMs)
    const final: RunRecord = { ...record, status, finishedAt, durationMs }
    if (status !== 'succeeded') {
      const { message, stack } = describeThrown(thrown)
      final.error = message
      if (stack !== undefined) final.stack = stack
    } else if (leaseLost !== undefined) {
      final.error = `succeeded after ${leaseLost}`
    }
    const retry = status === 'succeeded' ? undefined : retryAfter(deps, task, final, req.tickMs + durationMs)
    await deps.finals.write(final, { historyLimit: deps.historyLimit, ...(releaseLease ? { leaseKey: key } : {}), ...(retry !== undefined ? { retry } : {}) }, log)
    if (retry !== undefined) deps.onRetry(task.name, retry)
    if (status === 'succeeded') log.info({ durationMs }, 'task finished')
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
      await task.handle(ctx)
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

  return { runId, task: task.name, scheduledFor: record.scheduledFor, controller, outcome, settled }
}

async function notifyStart (deps: RunnerDeps, task: ResolvedTask, record: RunRecord, log: FastifyBaseLogger): Promise<void> {
  await Promise.all([
    deps.hooks.call('onRunStart', record, log),
    task.heartbeat === undefined ? undefined : pingHeartbeat(task.heartbeat, 'start', log)
  ])
}

async function notifyEnd (deps: RunnerDeps, task: ResolvedTask, ctx: TaskContext, final: RunRecord, thrown: unknown, log: FastifyBaseLogger): Promise<void> {
  const ok = final.status === 'succeeded'
  await Promise.all([
    deps.hooks.call('onRunEnd', final, log),
    task.heartbeat === undefined ? undefined : pingHeartbeat(task.heartbeat, ok ? 'success' : 'fail', log, final.error),
    ok
      ? task.onSuccess === undefined ? undefined : callBounded('onSuccess', log, HOOK_TIMEOUT_MS, () => task.onSuccess!(ctx))
      : task.onFailure === undefined ? undefined : callBounded('onFailure', log, HOOK_TIMEOUT_MS, () => task.onFailure!(ctx, thrown))
  ])
}

/** True when `value` is an ActiveRun rather than an immediate outcome. */
export function isActiveRun (value: StartResult): value is ActiveRun {
  return typeof value === 'object' && 'controller' in value
}
