/**
 * The runner: takes a task's lease, records the run, calls `handle(ctx)` with its
 * TaskContext, enforces the timeout through `ctx.signal`, renews the lease while the run
 * lasts, and records how it ended. One run's failure never reaches another run.
 */
import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { ResolvedTask, RunTrigger, TaskContext, TaskRequestInfo } from '../tasks/types.js'
import type { RunRecord, Store } from './stores/store.js'
import type { RunOutcome } from './types.js'

export interface RunnerDeps {
  app: FastifyInstance
  store: Store
  log: FastifyBaseLogger
  clock: () => number
  leaseMs: number
  historyLimit: number
}

export interface RunRequest {
  task: ResolvedTask
  scheduledFor: Date
  trigger: RunTrigger
  forced: boolean
  request: TaskRequestInfo | undefined
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

/** Why a run's signal fired. */
export class RunAbortedError extends Error {
  constructor (readonly reason: 'timeout' | 'shutdown', message: string) {
    super(message)
    this.name = reason === 'timeout' ? 'TimeoutError' : 'AbortError'
  }
}

/** The lease key of a run: one per task, or one per run when overlap is allowed. */
export function leaseKey (task: ResolvedTask, runId: string): string {
  return task.allowOverlap ? `${task.name}#${runId}` : task.name
}

/**
 * Take the lease and record the run as running. Resolves with the ActiveRun, or with a
 * `skipped` outcome when the previous run still holds the lease. Store errors reject: the
 * caller reports the store as unavailable.
 */
export async function startRun (deps: RunnerDeps, req: RunRequest): Promise<ActiveRun | RunOutcome> {
  const { store, clock } = deps
  const { task } = req
  const runId = randomUUID()
  const key = leaseKey(task, runId)
  const lease = await store.acquireLease(key, runId, deps.leaseMs, clock())
  if (lease.expiredOwner !== undefined) await store.markAbandoned(lease.expiredOwner, new Date(clock()))
  if (!lease.acquired) {
    const skipped = await recordWithoutRunning(deps, req, 'skipped', 'overlap', runId)
    deps.log.info({ task: task.name, runId, scheduledFor: req.scheduledFor }, 'task skipped: previous run still holds the lease')
    return skipped
  }
  const startedAt = new Date(clock())
  const record: RunRecord = {
    id: runId, task: task.name, scheduledFor: req.scheduledFor, trigger: req.trigger, startedAt, status: 'running'
  }
  try {
    await store.recordRun(record, deps.historyLimit)
  } catch (err) {
    await store.releaseLease(key, runId).catch(() => {})
    throw err
  }
  return execute(deps, req, record, key)
}

/**
 * Record an occurrence that ends as it is recorded — `skipped` (overlap) or `missed` (too
 * late for catchUp) — and return its outcome.
 */
export async function recordWithoutRunning (
  deps: RunnerDeps, req: Omit<RunRequest, 'forced' | 'request'>, status: 'skipped' | 'missed', reason: string, runId = randomUUID()
): Promise<RunOutcome> {
  const at = new Date(deps.clock())
  await deps.store.recordRun({
    id: runId, task: req.task.name, scheduledFor: req.scheduledFor, trigger: req.trigger,
    startedAt: at, finishedAt: at, durationMs: 0, status, error: reason
  }, deps.historyLimit)
  return { task: req.task.name, status, runId, reason, scheduledFor: req.scheduledFor.toISOString() }
}

function execute (deps: RunnerDeps, req: RunRequest, record: RunRecord, key: string): ActiveRun {
  const { store, clock } = deps
  const task = req.task
  const runId = record.id
  const log = deps.log.child({ task: task.name, runId })
  const controller = new AbortController()
  const startedMs = record.startedAt.getTime()

  let resolveOutcome!: (outcome: RunOutcome) => void
  const outcome = new Promise<RunOutcome>(resolve => { resolveOutcome = resolve })
  let finished = false

  /** Record how the run ended (once) and return its outcome. */
  const finish = async (status: 'succeeded' | 'failed' | 'timed_out', error?: unknown): Promise<RunOutcome | undefined> => {
    if (finished) return undefined
    finished = true
    const finishedAt = new Date(clock())
    const durationMs = finishedAt.getTime() - startedMs
    const final: RunRecord = { ...record, status, finishedAt, durationMs }
    if (error !== undefined) {
      final.error = error instanceof Error ? error.message : String(error)
      if (error instanceof Error && error.stack !== undefined) final.stack = error.stack
    }
    try {
      await store.recordRun(final, deps.historyLimit)
    } catch (err) {
      log.error({ err }, 'could not record the end of the run')
    }
    if (status === 'succeeded') log.info({ durationMs }, 'task finished')
    else log.error({ durationMs, err: error }, status === 'timed_out' ? 'task timed out' : 'task failed')
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
    void finish('timed_out', controller.signal.reason).then(result => { if (result !== undefined) resolveOutcome(result) })
  }, task.timeoutMs)
  // The timeout holds the process while a run lasts (a CLI `run` must not exit mid-run);
  // any abort (shutdown included) clears it, so it never outlives the run's signal.
  controller.signal.addEventListener('abort', () => clearTimeout(timeout), { once: true })

  // Renew at a third of the lease so two missed renewals still leave it held.
  const renewal = setInterval(() => {
    store.renewLease(key, runId, deps.leaseMs, clock()).then(held => {
      if (!held) log.warn('lease lost while running: another process may start this task')
    }, (err: unknown) => log.warn({ err }, 'could not renew the lease'))
  }, Math.max(1, Math.floor(deps.leaseMs / 3)))
  renewal.unref()

  const ctx: TaskContext = {
    app: deps.app,
    log,
    runId,
    task: task.name,
    scheduledFor: record.scheduledFor,
    trigger: req.trigger,
    forced: req.forced,
    signal: controller.signal,
    request: req.request
  }

  log.info({ scheduledFor: record.scheduledFor, trigger: req.trigger }, 'task started')
  const settled = (async () => {
    let result: RunOutcome | undefined
    try {
      await task.handle(ctx)
      result = await finish('succeeded')
    } catch (err) {
      result = await finish('failed', err)
    } finally {
      clearTimeout(timeout)
      clearInterval(renewal)
      await store.releaseLease(key, runId).catch((err: unknown) => log.warn({ err }, 'could not release the lease'))
    }
    // Resolve after the release, so whoever acts on the outcome finds the lease free.
    if (result !== undefined) resolveOutcome(result)
  })()

  return { runId, task: task.name, scheduledFor: record.scheduledFor, controller, outcome, settled }
}

/** True when `value` is an ActiveRun rather than an immediate outcome. */
export function isActiveRun (value: ActiveRun | RunOutcome): value is ActiveRun {
  return 'controller' in value
}
