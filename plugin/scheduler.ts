/**
 * The scheduler behind `app.scheduler` (docs/ARCHITECTURE.md#the-tick-path).
 *
 * Every enabled, scheduled task sits in a DueQueue keyed by the first instant it could be
 * due (its next occurrence, or its pending retry). A tick pops what is due; for each such
 * task it takes `o = previous(now)` and, when `o` is owed (at or after `firstSeen`, after
 * `lastOccurrence`), starts it with ONE atomic store step that claims `o`, takes the lease
 * and writes the `running` record (or the `missed` record when the tick is too late for
 * `catchUp`). A pending retry whose time has come is started the same way. An idle tick
 * touches no store.
 *
 * Faults (see `docs/ARCHITECTURE.md`): every store call is bounded in time (`storeTimeout`).
 * A task whose start failed for the store did not start and moved nothing: it is named in
 * the tick's `unavailable` list (the trigger answers 503) and retried at the next tick.
 * When the store answers `stale` (its task state vanished, or is ahead of this process),
 * the scheduler reloads every task's state and decides again, so lost state never re-runs
 * an occurrence: tasks whose state vanished are first seen again just after this minute.
 */
import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { ResolvedTask } from '../tasks/types.js'
import { ClosedError, InvalidInputError, InvalidPayloadError, PayloadTooLargeError, StoreOpenError, UnknownTaskError, storeUnavailable } from '../core/errors.js'
import { withDeadline } from '../core/deadline.js'
import { floorToMinute, MINUTE } from '../core/time.js'
import { coveredOccurrences } from './covers.js'
import { DueQueue } from './due-queue.js'
import { FinalRecords } from './final-records.js'
import { combineObservers, NO_OBSERVER, type Observer } from './observe.js'
import { pingHeartbeat, RunHooks, type PauseHook, type RunHook, type RunHookName } from './hooks.js'
import {
  BUSY_REASON, buffers, isActiveRun, isPausedOutcome, recordMissed, retryAfter, retryPolicy, RunAbortedError, startRun, supersededError,
  type ActiveRun, type RunnerDeps, type RunRequest, type StartResult
} from './runner.js'
import { TAKEOVER_REASON } from './stores/history.js'
import type { Backfill, ClusterState, HistoryPage, HistoryQuery, PendingRetry, RunRecord, Store, TaskPause, TaskState } from './stores/store.js'
import { backfillRange, cursorAfter, freedBy, moveCursor, pausedCount, pauseText, resumeSkips } from './steering.js'
import { StoreClock } from './store-clock.js'
import { describeThrown } from './thrown.js'
import { backfillView, consecutiveFailures, healthReport, latest, pausedView, pauseOf, taskHealth, taskListing, type TaskCounts } from './views.js'
import type {
  BackfillAnswer, BackfillOptions, HealthReport, ListOptions, PauseAnswer, PauseOptions, ResumeAnswer, ResumeOptions, RunOptions, RunOutcome, SchedulerApi,
  SchedulerListing, TaskInput, TickOptions, TickResult
} from './types.js'

/** A process records the cluster's last tick at most this often (docs/ARCHITECTURE.md#the-tick-path: the cluster heartbeat). */
export const HEARTBEAT_EVERY_MS = 5000
/** At most this many occurrences a backfill's cursor moves per tick without a run (already run, taken elsewhere). */
const BACKFILL_STEPS = 10
/** Health reads the cluster state through a cache this old at most. */
export const HEALTH_CACHE_MS = 5000
/** Recent runs per task in the listing when not asked (docs/RUN-OUTPUT.md). */
export const DEFAULT_RECENT = 5
/**
 * The first instant owed after state loss noticed at `ms`: just after that minute. Its
 * occurrence may have run in the lost state (claimed by another replica a moment before a
 * file was replaced or a primary failed over), and the new state cannot tell, so no replica
 * runs it again: a lost minute, never a duplicated one
 * (docs/ARCHITECTURE.md#a-store-that-goes-back-in-time).
 */
function afterLossAt (ms: number): number {
  return floorToMinute(ms) + 1
}

/** Runs read per task for the listing's summary (last finished run, consecutive failures). */
const SUMMARY_RUNS = 20
/** What an idle tick's `settled` resolves to: shared, since most ticks run nothing. */
const NOTHING_SETTLED: Promise<RunOutcome[]> = Promise.resolve(Object.freeze([]) as unknown as RunOutcome[])
const NOTHING_UNAVAILABLE: TickResult['unavailable'] = Object.freeze([]) as unknown as TickResult['unavailable']
const ABANDON_REASON = `${TAKEOVER_REASON} (crashed, frozen or cut off from the store)`

export interface SchedulerConfig extends Omit<RunnerDeps, 'hooks' | 'onRetry' | 'onBuffered' | 'track' | 'instance' | 'finals' | 'fence' | 'onFailed'> {
  /** Failures in a row that pause a task setting none of its own (docs/PAUSE.md); undefined: never. */
  pauseOnFailure: number | undefined
  closeGraceMs: number
  expectTickEveryMs: number
  /** Refuse to claim while this process's clock is further than this from the store's (`false`: never measured). */
  maxClockSkewMs: number | false
  /** How long after reaping an abandoned run its retry may start: a late result can still land meanwhile. */
  lateResultGraceMs: number
  /** Largest payload of a forced run, in bytes of its JSON. */
  maxPayloadSize: number
  /** Most occurrences one backfill may hold (docs/PAYLOADS.md#backfills). */
  maxBackfill: number
  /** Called by `add()`; throws once the app is ready. */
  addTask: (task: TaskInput) => void
  /** Health answers 503 while a task is failing. */
  failingTasksUnhealthy?: boolean
}

/** The tick's request record, built once (the route passes a builder so idle ticks skip it). */
function requestOf (options: TickOptions): RunRequest['request'] {
  if (typeof options.request === 'function') options.request = options.request()
  return options.request
}

/** This process, as run records and the listing name it. */
export const INSTANCE = `${hostname()}:${process.pid}`

type Decision = ActiveRun | RunOutcome | undefined

export class Scheduler implements SchedulerApi {
  readonly store: Store
  readonly instance = INSTANCE
  #config: SchedulerConfig
  #deps: RunnerDeps
  #hooks = new RunHooks()
  #tasks = new Map<string, ResolvedTask>()
  #queue = new DueQueue()
  #nextAt = new Map<string, number>()
  #states = new Map<string, TaskState>()
  #running = new Map<string, ActiveRun>()
  /** Buffered runs this process knows of (docs/OVERLAP.md): task → occurrence. */
  #buffered = new Map<string, Date>()
  #background = new Set<Promise<unknown>>()
  /** When the last tick arrived (clock ms); a number, so an idle tick allocates no Date. */
  #lastTickMs: number | undefined
  /** The last `now` an idle tick answered, and its ISO text: pings arriving in one millisecond share it. */
  #isoMs = NaN
  #iso = ''
  #closed = false
  #storeReady: Promise<void> | undefined
  #statesLoaded: Promise<void> | undefined
  #lastBeatMs = -Infinity
  #beating: Promise<void> | undefined
  #cluster: { at: number, state?: ClusterState, error?: string } | undefined
  #clusterRead: Promise<unknown> | undefined
  #counts: { at: number, counts: TaskCounts | undefined } | undefined
  #countsRead: Promise<TaskCounts | undefined> | undefined
  /** Why the last tick could not use the store, until a later call succeeds. */
  #storeFault: string | undefined
  readonly #finals: FinalRecords
  /** The store's time, and whether this process's clock is too far from it to claim. */
  readonly #storeClock: StoreClock
  /** The largest fencing token this process has seen (from starts and heartbeats). */
  #fence = 0
  /**
   * Set when the store went back in time: before the next claim the store is rebased with
   * this fence, every task first seen at `firstSeenMs` (the tick that noticed it).
   */
  #rebaseTo: { fence: number, firstSeenMs: number } | undefined
  /** The `now` of the latest tick (the schedule's time line, which tests drive). */
  #tickNowMs = -Infinity
  /** Why health is 503 after the store went back in time, until the next clean tick. */
  #wentBack: { reason: string, fence: number, atMs: number } | undefined
  /** The pauses in force, as the last cluster read found them (docs/PAUSE.md). */
  #paused: TaskPause[] = []
  /** Backfills not finished, as this process knows them (docs/PAYLOADS.md#backfills): id → backfill. */
  #backfills = new Map<string, Backfill>()
  /** True once a heartbeat told this process which backfills are pending. */
  #backfillsLearned = false

  constructor (config: SchedulerConfig) {
    this.#config = config
    this.store = config.store
    this.#finals = new FinalRecords(config.store)
    this.#storeClock = new StoreClock(config.clock, config.maxClockSkewMs, config.log)
    this.#deps = {
      ...config,
      // Leases, records and health read the store's time (docs/ARCHITECTURE.md#time).
      clock: () => this.#now(),
      instance: INSTANCE,
      hooks: this.#hooks,
      onRetry: (task, retry) => this.#noteRetry(task, retry),
      onBuffered: (task, of, holder) => this.#onBuffered(task, of, holder),
      track: work => this.#track(work),
      onFailed: async (task, run) => await this.#judgeFailure(task, run),
      finals: this.#finals,
      fence: {
        seen: () => this.#fence,
        accept: (token, seenBefore) => this.#acceptToken(token, seenBefore)
      }
    }
  }

  get taskNames (): readonly string[] {
    return [...this.#tasks.keys()]
  }

  get lastTickAt (): Date | undefined {
    return this.#lastTickMs === undefined ? undefined : new Date(this.#lastTickMs)
  }

  add (task: TaskInput): void {
    this.#config.addTask(task)
  }

  addHook (name: RunHookName | 'onPause', fn: RunHook | PauseHook): void {
    this.#hooks.add(name, fn)
  }

  /** Add an observer beside the metrics and tracing ones (tests use it); not part of `app.scheduler`'s type. */
  observe (observer: Partial<Observer>): void {
    this.#deps.observer = combineObservers([this.#deps.observer, { ...NO_OBSERVER, ...observer }])
  }

  /** Install the resolved tasks; called once when the app is ready. */
  start (tasks: readonly ResolvedTask[]): void {
    for (const task of tasks) {
      this.#tasks.set(task.name, task)
      if (task.enabled && !task.schedule.manual) this.#queue.set(task.name, -Infinity)
    }
  }

  /** Initialise the store and measure its clock once; a failure is retried by the next call. */
  ensureStore (): Promise<void> {
    this.#storeReady ??= this.store.init({ log: this.#config.log }).then(() => this.#storeClock.measure(this.store)).catch((err: unknown) => {
      this.#storeReady = undefined
      throw err instanceof StoreOpenError ? err : storeUnavailable(err)
    })
    return this.#storeReady
  }

  /**
   * The trigger's fast path for a plain ping (no task named, not forced, no `now`): when
   * nothing is due, does what such a `tick()` does (the tick is recorded, the heartbeat
   * kept) and returns the tick's `now`, synchronously; otherwise returns undefined and
   * changes nothing, and the caller calls `tick()`. Not part of `app.scheduler`'s type.
   */
  idleTick (): string | undefined {
    if (this.#closed || this.#storeClock.skew !== undefined) return undefined
    const clockMs = this.#now()
    if (!(this.#queue.peek() > clockMs) || this.#backfills.size > 0) return undefined
    this.#tickNowMs = clockMs
    this.#lastTickMs = clockMs
    if (clockMs - this.#lastBeatMs >= HEARTBEAT_EVERY_MS) this.#beat(clockMs)
    return this.#isoOf(clockMs)
  }

  async tick (arg?: Date | TickOptions): Promise<TickResult> {
    const given: TickOptions = arg instanceof Date ? { now: arg } : arg ?? {}
    if (this.#closed) throw new ClosedError()
    const clockMs = this.#now()
    const nowMs = given.now?.getTime() ?? clockMs
    this.#tickNowMs = nowMs
    const named = given.tasks === undefined ? undefined : this.#lookup(given.tasks)
    // Only a forced run can carry a payload, checked before anything moves (docs/PAYLOADS.md#payloads).
    if (given.payload !== undefined) this.#checkPayload(named, given)
    // Only a tick that evaluates the whole schedule counts for health: a scoped or forced
    // trigger runs some tasks and says nothing about the pinger (docs/ARCHITECTURE.md#health).
    const whole = named === undefined && given.force !== true
    if (whole) {
      // A skewed process claims nothing: its ticks do not count for health (its heartbeat
      // still measures the clock, so it notices when the clock is corrected).
      if (this.#storeClock.skew === undefined) this.#lastTickMs = clockMs
      if (clockMs - this.#lastBeatMs >= HEARTBEAT_EVERY_MS) this.#beat(clockMs)
    }
    this.#storeClock.refuseIfSkewed()
    // A process's first whole tick waits for its first heartbeat, which says what backfills
    // are pending (a process that ticks once, as `fastify-scheduler run` from cron, moves them too).
    if (whole && !this.#backfillsLearned && this.#beating !== undefined) await this.#beating
    const wentBack = this.#wentBack

    let candidates: ResolvedTask[]
    if (given.force === true) {
      candidates = (named ?? [...this.#tasks.values()]).filter(t => t.enabled)
    } else if (named === undefined) {
      if (this.#queue.peek() > nowMs && this.#backfills.size === 0) return this.#collect(nowMs, [], NOTHING_UNAVAILABLE)
      candidates = this.#queue.popDue(nowMs).map(name => this.#tasks.get(name) as ResolvedTask)
    } else {
      candidates = named.filter(t => t.enabled && !t.schedule.manual)
    }
    // Each whole tick also moves every pending backfill by one occurrence (docs/PAYLOADS.md#backfills).
    const backfilling = whole && this.#backfills.size > 0
    if (candidates.length === 0 && !backfilling) return this.#collect(nowMs, [], NOTHING_UNAVAILABLE)
    // Copied only once something is due (not on the idle path): requestOf() replaces a request
    // builder with what it built, and the caller's object stays as it was.
    const options: TickOptions = { ...given }

    try {
      await this.#prepareStore(nowMs)
      this.#storeClock.refuseIfSkewed()
    } catch (err) {
      // Nothing was started: put the tasks back so the next tick retries them.
      if (options.force !== true) for (const task of candidates) this.#queue.set(task.name, -Infinity)
      this.#storeFault = (err as Error).message
      throw storeUnavailable(err)
    }

    const decide = options.force === true
      ? (task: ResolvedTask) => this.#forceOne(task, nowMs, options)
      : (task: ResolvedTask) => this.#evaluate(task, nowMs, options)
    const [settled, backfilled] = await Promise.all([
      Promise.allSettled(candidates.map(decide)),
      backfilling ? this.#advanceBackfills(nowMs) : []
    ])
    const results: Array<ActiveRun | RunOutcome> = [...backfilled]
    const unavailable: Array<{ task: string, error: string }> = []
    settled.forEach((result, i) => {
      if (result.status === 'fulfilled') {
        if (result.value !== undefined) results.push(result.value)
        return
      }
      const task = candidates[i]!
      unavailable.push({ task: task.name, error: describeThrown(result.reason).message })
      // Not started, nothing moved in the store: owed again at the next tick.
      if (options.force !== true) this.#queue.set(task.name, -Infinity)
    })
    if (unavailable.length > 0) {
      this.#storeFault = unavailable[0]!.error
      this.#config.log.error({ unavailable }, 'store error during tick: these tasks did not start and are retried at the next tick')
      if (results.length === 0) {
        throw storeUnavailable(new Error(`${unavailable.map(u => u.task).join(', ')} not started: ${unavailable[0]!.error}`))
      }
    } else {
      this.#storeFault = undefined
      // A clean whole tick after the store was rebased: health stops reporting the regression.
      if (whole && wentBack !== undefined && this.#wentBack === wentBack && this.#rebaseTo === undefined) this.#wentBack = undefined
    }
    return this.#collect(nowMs, results, unavailable)
  }

  async run (name: string, options: RunOptions = {}): Promise<RunOutcome> {
    const result = await this.tick({
      tasks: [name],
      force: options.force === true || options.payload !== undefined,
      trigger: 'api',
      ...(options.now !== undefined ? { now: options.now } : {}),
      ...(options.payload !== undefined ? { payload: options.payload } : {})
    })
    const outcomes = await result.settled
    const now = new Date(floorToMinute(options.now?.getTime() ?? this.#now())).toISOString()
    if (outcomes[0] !== undefined) return outcomes[0]
    const unavailable = result.unavailable[0]
    if (unavailable !== undefined) throw storeUnavailable(new Error(unavailable.error))
    return { task: name, status: 'skipped', reason: 'not due', scheduledFor: now }
  }

  async list (arg?: Date | ListOptions): Promise<SchedulerListing> {
    const options: ListOptions = arg instanceof Date ? { now: arg } : arg ?? {}
    const nowMs = options.now?.getTime() ?? this.#now()
    const upcoming = Math.max(1, Math.floor(options.upcoming ?? 1))
    const recentCount = Math.max(0, Math.floor(options.recent ?? DEFAULT_RECENT))
    await this.ensureStore()
    const names = this.taskNames
    let recent: Map<string, RunRecord[]>
    let cluster: ClusterState
    const fenceBefore = this.#fence
    try {
      await this.#reapAbandoned()
      ;[recent, cluster] = await Promise.all([
        this.store.recentRuns(names, Math.max(SUMMARY_RUNS, recentCount)),
        this.store.heartbeat()
      ])
    } catch (err) {
      throw storeUnavailable(err)
    }
    this.#noteCluster(cluster, fenceBefore)
    this.#cluster = { at: this.#now(), state: cluster }
    const tasks = [...this.#tasks.values()].map(task => taskListing(task, recent.get(task.name) ?? [], {
      nowMs,
      upcoming,
      recent: recentCount,
      runningHere: [...this.#running.values()].some(run => run.task === task.name),
      retries: (retryPolicy(this.#deps, task)?.attempts ?? 1) - 1,
      paused: pauseOf(cluster.paused, task.name),
      backfills: cluster.backfills
    }))
    const everything = cluster.paused.find(p => p.task === null)
    const lastTick = latest(cluster.lastTick, this.lastTickAt)
    return {
      now: new Date(nowMs).toISOString(),
      store: { kind: this.store.kind, durable: this.store.durable },
      lastTick: lastTick?.toISOString() ?? null,
      instance: INSTANCE,
      paused: everything === undefined ? null : pausedView(everything),
      tasks
    }
  }

  async backfill (name: string, options: BackfillOptions): Promise<BackfillAnswer> {
    const [task] = this.#lookup([name])
    if (this.#closed) throw new ClosedError()
    const { from, to } = options ?? {}
    const nowMs = options?.now?.getTime() ?? this.#now()
    const { first, count } = backfillRange(task!, from, to, nowMs, this.#config.maxBackfill)
    await this.ensureStore()
    const id = randomUUID()
    let stored: Backfill
    try {
      stored = await this.store.createBackfill({ id, task: name, from, to, total: count, next: first, createdAt: new Date(nowMs) })
    } catch (err) {
      throw storeUnavailable(err)
    }
    if (stored.next !== undefined) this.#backfills.set(stored.id, stored)
    this.#config.log.info({ task: name, backfill: stored.id, occurrences: stored.total }, 'fastify-scheduler: backfill accepted')
    return { ...backfillView(stored), created: stored.id === id }
  }

  /**
   * Move every pending backfill known here by one occurrence (docs/PAYLOADS.md#backfills):
   * its cursor's occurrence is started with claim `backfill`; one that already had a run, or
   * that another replica took, moves the cursor on without a run (a few per tick); a held
   * lease or a pause leaves it where it is. Returns the runs started. Never rejects.
   */
  async #advanceBackfills (nowMs: number): Promise<ActiveRun[]> {
    const started: ActiveRun[] = []
    const busy = new Set<string>()
    const pending = [...this.#backfills.values()].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : 1))
    for (const backfill of pending) {
      // One backfill of a task at a time, oldest first.
      if (busy.has(backfill.task)) continue
      busy.add(backfill.task)
      const task = this.#tasks.get(backfill.task)
      if (task === undefined) continue
      try {
        const run = await this.#advanceBackfill(task, backfill, nowMs)
        if (run !== undefined) started.push(run)
      } catch (err) {
        this.#storeFault = describeThrown(err).message
        this.#config.log.error({ task: task.name, backfill: backfill.id, err }, 'store error during a backfill: retried at the next tick')
      }
      if (backfill.next === undefined) this.#backfills.delete(backfill.id)
    }
    return started
  }

  async #advanceBackfill (task: ResolvedTask, backfill: Backfill, nowMs: number): Promise<ActiveRun | undefined> {
    for (let step = 0; step < BACKFILL_STEPS && backfill.next !== undefined; step++) {
      const at = backfill.next
      const next = cursorAfter(task, backfill, at)
      const result = await startRun(this.#deps, {
        task,
        scheduledFor: at,
        forced: false,
        attempt: 1,
        claim: 'backfill',
        trigger: 'backfill',
        request: undefined,
        tickMs: nowMs,
        backfill: { id: backfill.id, ...(next !== undefined ? { next } : {}) }
      })
      if (result === 'stale') return undefined
      if (isActiveRun(result)) {
        backfill.done += 1
        moveCursor(backfill, next)
        return this.#watch(result) as ActiveRun
      }
      // Paused, or the task's previous run holds the lease: the cursor waits for a later tick.
      if (isPausedOutcome(result) || result.reason === BUSY_REASON) return undefined
      // Already run (skipped) or taken by another replica: the cursor moved on in the store.
      moveCursor(backfill, next)
    }
    return undefined
  }

  async history (query: HistoryQuery = {}): Promise<HistoryPage> {
    await this.ensureStore()
    try {
      return await this.store.listRuns(query)
    } catch (err) {
      throw storeUnavailable(err)
    }
  }

  /**
   * Health for the dead-man's switch: the cluster's last tick (any replica's), read from the
   * store through a cache of HEALTH_CACHE_MS so a flood of health requests costs at most one
   * store read per few seconds. 503 when no tick came within `expectTickEvery`, when the
   * store cannot be read, or when the last tick could not reach the store.
   */
  async health (): Promise<HealthReport> {
    const clockMs = this.#now()
    if (this.#cluster === undefined || clockMs - this.#cluster.at >= HEALTH_CACHE_MS) {
      this.#clusterRead ??= this.#readCluster().finally(() => { this.#clusterRead = undefined })
      await this.#clusterRead
    }
    const cluster = this.#cluster!
    return healthReport({
      nowMs: clockMs,
      lastTick: latest(cluster.state?.lastTick, this.lastTickAt),
      expectTickEveryMs: this.#config.expectTickEveryMs,
      storeError: cluster.error,
      skew: this.#storeClock.skew,
      wentBack: this.#wentBack?.reason,
      storeFault: this.#storeFault,
      paused: pausedCount(cluster.state?.paused ?? [], this.#tasks),
      counts: cluster.error === undefined ? await this.#taskCounts(clockMs) : undefined,
      failingUnhealthy: this.#config.failingTasksUnhealthy === true
    })
  }

  async pause (nameOrOptions?: string | PauseOptions, maybeOptions?: PauseOptions): Promise<PauseAnswer> {
    const [name, options = {}] = typeof nameOrOptions === 'string' ? [nameOrOptions, maybeOptions] : [undefined, nameOrOptions]
    if (name !== undefined) this.#lookup([name])
    if (this.#closed) throw new ClosedError()
    await this.ensureStore()
    const reason = pauseText(options.reason)
    const by = pauseText(options.by)
    let pause: TaskPause
    try {
      pause = await this.store.pause({
        ...(name !== undefined ? { task: name } : {}),
        since: new Date(options.now?.getTime() ?? this.#now()),
        ...(reason !== undefined ? { reason } : {}),
        ...(by !== undefined ? { by } : {})
      })
    } catch (err) {
      throw storeUnavailable(err)
    }
    this.#notePause(pause)
    this.#track(this.#hooks.callPause(pause, this.#config.log))
    this.#config.log.info({ task: name ?? null, by: pause.by }, name === undefined ? 'fastify-scheduler: every task paused' : 'fastify-scheduler: task paused')
    return { task: pause.task, paused: pausedView(pause) }
  }

  async resume (nameOrOptions?: string | ResumeOptions, maybeOptions?: ResumeOptions): Promise<ResumeAnswer> {
    const [name, options = {}] = typeof nameOrOptions === 'string' ? [nameOrOptions, maybeOptions] : [undefined, nameOrOptions]
    if (name !== undefined) this.#lookup([name])
    if (this.#closed) throw new ClosedError()
    const nowMs = options.now?.getTime() ?? this.#now()
    let cluster: ClusterState
    try {
      await this.#prepareStore(nowMs)
      cluster = await this.store.heartbeat()
    } catch (err) {
      throw storeUnavailable(err)
    }
    const paused = cluster.paused
    this.#paused = paused
    const target = name ?? null
    const pause = paused.find(p => p.task === target)
    const answer: ResumeAnswer = { task: target, resumed: false, paused: null, skipped: [], runs: [] }
    if (pause === undefined) return answer
    // The tasks this pause alone held back: another pause in force keeps holding the others.
    const freed = freedBy(pause, paused, this.#tasks.values())
    const catchUp = options.catchUp === true
    // With catchUp the latest owed occurrence stays owed: the resume's own tick below runs it.
    const { records: skip, skipped } = resumeSkips(freed, this.#states, pause, nowMs, catchUp, INSTANCE)
    answer.skipped = skipped
    let lifted: TaskPause | undefined
    try {
      lifted = await this.store.resume({ ...(name !== undefined ? { task: name } : {}), skip, historyLimit: this.#config.historyLimit })
    } catch (err) {
      throw storeUnavailable(err)
    }
    this.#paused = this.#paused.filter(p => p.task !== target)
    if (lifted === undefined) {
      answer.skipped = []
      return answer
    }
    answer.resumed = true
    answer.paused = pausedView(lifted)
    for (const record of skip) {
      const state = this.#states.get(record.task)
      if (state !== undefined && (state.lastOccurrence === undefined || state.lastOccurrence < record.scheduledFor)) {
        state.lastOccurrence = record.scheduledFor
        delete state.retry
      }
    }
    // Every freed task is looked at by the next tick (a retry held back, the next occurrence).
    for (const task of freed) this.#queue.set(task.name, -Infinity)
    this.#config.log.info({ task: target, skipped: answer.skipped.length }, name === undefined ? 'fastify-scheduler: every task resumed' : 'fastify-scheduler: task resumed')
    if (catchUp && freed.length > 0) {
      try {
        const result = await this.tick({ tasks: freed.map(task => task.name), now: new Date(nowMs), trigger: 'api' })
        answer.runs = result.runs
      } catch (err) {
        // The pause is lifted: the latest occurrence stays owed and the next tick runs it.
        this.#config.log.warn({ err }, 'fastify-scheduler: resumed, but the caught-up run could not start now; the next tick runs it')
      }
    }
    return answer
  }

  /**
   * `pauseOnFailure` (docs/PAUSE.md): after a run ended badly, count the task's failures in a
   * row from its newest records; at the threshold pause it, with a reason naming the last
   * error, and report it through `onPause` and the heartbeat URL. Only the process that
   * made the pause reports it.
   */
  async #judgeFailure (task: ResolvedTask, run: RunRecord): Promise<void> {
    const threshold = task.pauseOnFailure === false ? undefined : task.pauseOnFailure ?? this.#config.pauseOnFailure
    if (threshold === undefined || run.forced) return
    const recent = (await this.store.recentRuns([task.name], threshold + 20)).get(task.name) ?? []
    const streak = consecutiveFailures(recent)
    if (streak < threshold) return
    const since = new Date(this.#now())
    const reason = pauseText(`pauseOnFailure: ${streak} failures in a row; last: ${run.error ?? run.status}`)!
    const pause = await this.store.pause({ task: task.name, since, reason, by: 'pauseOnFailure' })
    this.#notePause(pause)
    if (pause.since.getTime() !== since.getTime() || pause.by !== 'pauseOnFailure') return
    this.#config.log.warn({ task: task.name, failures: streak }, `fastify-scheduler: task paused after ${streak} failures in a row`)
    await Promise.all([
      this.#hooks.callPause(pause, this.#config.log),
      task.heartbeat === undefined ? undefined : pingHeartbeat(task.heartbeat, 'fail', this.#config.log, `paused: ${reason}`)
    ])
  }

  /** A pause this process learned of (its own call, or the store's answer to a start). */
  #notePause (pause: TaskPause): void {
    this.#paused = [...this.#paused.filter(p => p.task !== pause.task), pause]
  }

  /**
   * How many tasks are failing and overdue, cluster-wide (from every task's newest runs),
   * through the same short cache as the cluster state; undefined when the runs cannot be read.
   */
  async #taskCounts (clockMs: number): Promise<TaskCounts | undefined> {
    if (this.#counts !== undefined && clockMs - this.#counts.at < HEALTH_CACHE_MS) return this.#counts.counts
    this.#countsRead ??= (async () => {
      let counts: TaskCounts | undefined
      try {
        const recent = await this.store.recentRuns(this.taskNames, SUMMARY_RUNS)
        counts = { failing: 0, overdue: 0 }
        const nowMs = this.#now()
        for (const task of this.#tasks.values()) {
          const { failing, overdue } = taskHealth(task, recent.get(task.name) ?? [], nowMs, this.#config.expectTickEveryMs, this.#states.get(task.name)?.firstSeen)
          if (failing) counts.failing++
          if (overdue) counts.overdue++
        }
      } catch (err) {
        this.#config.log.warn({ err }, 'health: could not read the runs to count failing and overdue tasks')
      }
      this.#counts = { at: this.#now(), counts }
      return counts
    })().finally(() => { this.#countsRead = undefined })
    return await this.#countsRead
  }

  /**
   * Stop: refuse new ticks, abort every running task's signal, and wait for them (and for
   * background work: final records, hooks) up to the grace period. Runs still going after it
   * keep their 'running' record; their leases expire and another process records them abandoned.
   */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const runs = [...this.#running.values()]
    for (const run of runs) run.controller.abort(new RunAbortedError('shutdown', 'the app is closing'))
    // Final records still waiting for the store get one more try within the grace period.
    const pending = [...runs.map(run => run.settled), ...this.#background, this.#finals.flush()]
    await withDeadline(Promise.allSettled(pending), this.#config.closeGraceMs)
    this.#finals.close()
  }

  /** A payload goes to exactly one named task, forced, that declares a schema it matches, within `maxPayloadSize`. */
  #checkPayload (named: ResolvedTask[] | undefined, options: TickOptions): void {
    if (named?.length !== 1) throw new InvalidInputError('payload: name exactly one task to run with a payload')
    if (options.force !== true) throw new InvalidInputError('payload: a run with a payload is forced: set force')
    const task = named[0]!
    if (task.payload === undefined) throw new InvalidPayloadError(`task "${task.name}" (${task.source}) takes no payload: it declares no payload schema`)
    let json: string | undefined
    try {
      json = JSON.stringify(options.payload)
    } catch (err) {
      throw new InvalidPayloadError(`task "${task.name}": the payload is not JSON (${(err as Error).message})`)
    }
    const size = json === undefined ? 0 : Buffer.byteLength(json)
    if (size > this.#config.maxPayloadSize) {
      throw new PayloadTooLargeError(`task "${task.name}": the payload is ${size} bytes as JSON; maxPayloadSize is ${this.#config.maxPayloadSize}`)
    }
    const problem = task.payload.check(options.payload)
    if (problem !== undefined) throw new InvalidPayloadError(`task "${task.name}" (${task.source}): ${problem}`)
  }

  #lookup (names: readonly string[]): ResolvedTask[] {
    return names.map(name => {
      const task = this.#tasks.get(name)
      if (task === undefined) throw new UnknownTaskError(name)
      return task
    })
  }

  #track (work: Promise<unknown>): void {
    const tracked = work.catch(() => {}).finally(() => this.#background.delete(tracked))
    this.#background.add(tracked)
  }

  /** Record the tick in the cluster state, in the background; learn other processes' retries. */
  #beat (clockMs: number): void {
    if (this.#beating !== undefined) return
    this.#lastBeatMs = clockMs
    this.#beating = Promise.all([
      this.#readCluster(this.#storeClock.skew === undefined ? { at: new Date(clockMs), instance: INSTANCE } : undefined),
      this.#storeClock.measure(this.store).catch((err: unknown) => this.#config.log.warn({ err }, 'could not read the store\'s clock'))
    ])
      .then(([state]) => {
        if (state === undefined) return
        // A paused task's retry waits for its resume (docs/PAUSE.md): no start is tried meanwhile.
        for (const retry of state.retries) {
          if (pauseOf(state.paused, retry.task) === undefined) this.#noteRetry(retry.task, retry)
        }
        for (const buffered of state.buffered) this.#noteBuffered(buffered.task, buffered.of)
      })
      .finally(() => { this.#beating = undefined })
    this.#track(this.#beating)
  }

  /**
   * Read the cluster state into the cache (recording `tick` first when given), or cache why
   * the store could not be read; never rejects. Returns the state read, if any.
   */
  async #readCluster (tick?: { at: Date, instance: string }): Promise<ClusterState | undefined> {
    try {
      await this.ensureStore()
      const fenceBefore = this.#fence
      const state = await this.store.heartbeat(tick)
      this.#noteCluster(state, fenceBefore)
      this.#cluster = { at: this.#now(), state }
      return state
    } catch (err) {
      this.#cluster = { at: this.#now(), error: (err as Error).message }
      return undefined
    }
  }

  /** Now, in the store's time: this process's clock corrected by the measured offset. */
  #now (): number {
    return this.#storeClock.now()
  }

  /** A start's token: false (and the regression handled) when the store handed out one not larger than seen before. */
  #acceptToken (token: number, seenBefore: number): boolean {
    if (token <= seenBefore) {
      this.#wentBackInTime(`the store handed out lease token ${token}, not larger than ${seenBefore} seen before`)
      return false
    }
    if (token > this.#fence) this.#fence = token
    return true
  }

  /**
   * The cluster state read by a heartbeat: a fencing counter smaller than a token seen before
   * the read means the store went back in time. Once the counter is back at or past what this
   * process had seen when it noticed, and a replica ticked the whole schedule since, the store
   * was rebased (by this replica or another): health stops reporting it, and a pending rebase
   * of ours, which would only move firstSeen again, is dropped.
   */
  #noteCluster (state: ClusterState, seenBefore: number): void {
    const { fence, lastTick } = state
    this.#paused = state.paused
    // The store is the truth about backfills: pending ones are (re)learned, finished ones dropped.
    // Only backfills of tasks this process has: another's would keep its idle ping off the fast path.
    this.#backfills = new Map(state.backfills.filter(b => this.#tasks.has(b.task)).map(b => [b.id, b]))
    this.#backfillsLearned = true
    if (fence < seenBefore) {
      this.#wentBackInTime(`the store's fencing counter is ${fence}, smaller than token ${seenBefore} seen before`)
      return
    }
    if (fence > this.#fence) this.#fence = fence
    const wentBack = this.#wentBack
    if (wentBack !== undefined && fence >= wentBack.fence && lastTick !== undefined && lastTick.getTime() > wentBack.atMs) {
      this.#wentBack = undefined
      this.#rebaseTo = undefined
    }
  }

  /**
   * The store lost writes it had acknowledged (a failover to a lagging replica, a restore, a
   * replaced file): treated as state loss. Before the next claim the store is rebased — every
   * task first seen just after this minute, pending retries dropped, the fencing counter raised above every token
   * seen — and health says so until a clean tick (docs/ARCHITECTURE.md#a-store-that-goes-back-in-time).
   */
  #wentBackInTime (why: string): void {
    if (this.#rebaseTo === undefined) {
      this.#config.log.error(`fastify-scheduler: the store went back in time (${why}); treating it as state loss: every task is first seen just after this minute`)
    }
    this.#rebaseTo = {
      fence: Math.max(this.#rebaseTo?.fence ?? 0, this.#fence),
      firstSeenMs: Math.min(this.#rebaseTo?.firstSeenMs ?? Infinity, afterLossAt(this.#tickNowMs))
    }
    this.#wentBack = { reason: `the store went back in time: ${why}`, fence: this.#rebaseTo.fence, atMs: this.#now() }
    this.#statesLoaded = undefined
  }

  /** A pending retry: keep it in the task's state and wake the queue at its time. */
  #noteRetry (name: string, retry: PendingRetry): void {
    const task = this.#tasks.get(name)
    const state = this.#states.get(name)
    if (task === undefined || !task.enabled || state === undefined) return
    state.retry = retry
    this.#queue.set(name, Math.min(this.#nextAt.get(name) ?? Infinity, retry.at.getTime()))
  }

  /** A buffered run another process left in the store: it is started at this process's next tick. */
  #noteBuffered (name: string, of: Date): void {
    const task = this.#tasks.get(name)
    if (task === undefined || !task.enabled || !buffers(task) || this.#buffered.get(name)?.getTime() === of.getTime()) return
    this.#buffered.set(name, of)
    this.#queue.set(name, -Infinity)
  }

  /** This process buffered an occurrence; under `cancelOther` a holder running here stops now, not at its next renewal. */
  #onBuffered (task: ResolvedTask, of: Date, holder: string): void {
    this.#buffered.set(task.name, of)
    if (task.overlap !== 'cancelOther') return
    const run = this.#running.get(holder)
    if (run !== undefined && !run.controller.signal.aborted) run.controller.abort(supersededError(task.name))
  }

  /**
   * A run of a task that buffers ended here and released the lease: start the buffered run
   * now, on this process (docs/OVERLAP.md). Buffered by another process, it is read from the
   * cluster state first; a failure leaves it to the next tick of any process.
   */
  async #startBuffered (task: ResolvedTask, trigger: RunRequest['trigger']): Promise<void> {
    if (this.#closed || !task.enabled) return
    let of = this.#buffered.get(task.name)
    if (of === undefined) {
      const fenceBefore = this.#fence
      const cluster = await this.store.heartbeat()
      this.#noteCluster(cluster, fenceBefore)
      of = cluster.buffered.find(b => b.task === task.name)?.of
      if (of === undefined || this.#closed) return
      this.#buffered.set(task.name, of)
    }
    const nowMs = this.#now()
    const result = await startRun(this.#deps, { task, scheduledFor: of, forced: false, attempt: 1, claim: 'buffer', trigger, request: undefined, tickMs: Math.max(nowMs, this.#tickNowMs) })
    this.#settleBuffer(task, of, result, nowMs)
  }

  /** What a `buffer` claim's answer means for the buffered run this process knows of. */
  #settleBuffer (task: ResolvedTask, of: Date, result: StartResult, nowMs: number): Decision {
    if (result === 'stale') return undefined
    const busy = !isActiveRun(result) && result.reason === BUSY_REASON
    if (busy) {
      // The holder has not ended: it starts the run when it does, or (crashed) a later tick does.
      this.#queue.set(task.name, Math.min(this.#nextAt.get(task.name) ?? Infinity, floorToMinute(nowMs) + MINUTE))
      return result
    }
    if (this.#buffered.get(task.name)?.getTime() === of.getTime()) this.#buffered.delete(task.name)
    return this.#watch(result)
  }

  /** Init the store, load task states (first tick only) and reap expired leases. */
  async #prepareStore (nowMs: number): Promise<void> {
    await this.ensureStore()
    // Results that landed while the store was away are written before anything is claimed.
    await this.#finals.flush()
    await this.#loadStates(nowMs)
    await this.#reapAbandoned(nowMs)
  }

  /**
   * Register every task with the store once, first seen at `firstSeenMs` (the first tick's
   * minute, so that minute's occurrence is owed; just after it when state was lost).
   */
  #loadStates (nowMs: number, firstSeenMs = floorToMinute(nowMs)): Promise<void> {
    const rebaseTo = this.#rebaseTo
    this.#statesLoaded ??= (rebaseTo === undefined
      ? this.store.ensureTasks(this.taskNames, new Date(firstSeenMs))
      : this.store.rebase(this.taskNames, new Date(Math.min(rebaseTo.firstSeenMs, afterLossAt(nowMs))), rebaseTo.fence)
    ).then(states => {
      this.#states = states
      if (rebaseTo !== undefined && this.#rebaseTo === rebaseTo) this.#rebaseTo = undefined
    }, (err: unknown) => {
      this.#statesLoaded = undefined
      throw err
    })
    return this.#statesLoaded
  }

  /**
   * The store's task state is not what this process cached (its data was lost, or another
   * process saw newer state): reload it. Tasks whose state vanished are first seen just
   * after this minute, so no occurrence up to this minute is run again.
   */
  async #reloadStates (nowMs: number): Promise<void> {
    this.#config.log.warn('fastify-scheduler: the store\'s task state changed under this process (data lost or reset?); reloading it — tasks whose state vanished are first seen just after this minute: its occurrences may have run in the lost state and are not run again')
    this.#statesLoaded = undefined
    await this.#loadStates(nowMs, afterLossAt(nowMs))
    // A store that lost its task rows lost its fencing counter too: raise it above every token
    // this process saw, so the next start is not mistaken for (or turned into) a token handed out twice.
    if (this.#fence > 0) await this.store.rebase([], new Date(floorToMinute(nowMs)), this.#fence)
  }

  /**
   * Mark runs whose lease expired `abandoned` (one store step), and arm their retries (from
   * `tickMs`, the schedule's time line) no sooner than `lateResultGrace` from now: the run
   * may have finished in a process cut off from the store, whose result can still land and
   * then cancels the retry (docs/ARCHITECTURE.md#late-results).
   */
  async #reapAbandoned (tickMs = this.#now()): Promise<void> {
    const abandoned = await this.store.abandonExpired(this.#now(), ABANDON_REASON)
    for (const run of abandoned) {
      this.#config.log.warn({ task: run.task, runId: run.id, scheduledFor: run.scheduledFor }, 'run abandoned: its lease expired while it was running')
      // One of ours whose lease expired (a blocked event loop): it must not go on believing it holds it.
      this.#running.get(run.id)?.controller.abort(new RunAbortedError('lease lost', `task "${run.task}": lease lost: it expired and was reaped`))
      const task = this.#tasks.get(run.task)
      const retry = task === undefined ? undefined : retryAfter(this.#deps, task, run, tickMs, this.#config.lateResultGraceMs)
      if (retry === undefined) continue
      try {
        if (await this.store.retryAbandoned(run, retry)) this.#noteRetry(run.task, retry)
      } catch (err) {
        this.#config.log.error({ task: run.task, runId: run.id, err }, 'could not schedule the retry of an abandoned run')
      }
    }
  }

  /** Decide what a due task gets: nothing, a run (occurrence or retry), or a missed record. */
  async #evaluate (task: ResolvedTask, nowMs: number, options: TickOptions, reloaded = false): Promise<Decision> {
    const now = new Date(nowMs)
    const next = task.schedule.next(now)?.getTime() ?? Infinity
    this.#nextAt.set(task.name, next)
    const state = this.#states.get(task.name)
    const retry = retryPolicy(this.#deps, task) === undefined ? undefined : state?.retry
    this.#queue.set(task.name, Math.min(next, retry !== undefined && retry.at.getTime() > nowMs ? retry.at.getTime() : Infinity))
    if (state === undefined) return undefined
    const occurrence = task.schedule.previous(now)
    const o = occurrence?.getTime()
    const owed = o !== undefined && o >= state.firstSeen.getTime() && (state.lastOccurrence === undefined || o > state.lastOccurrence.getTime())

    let result: StartResult
    if (owed) {
      const lateMs = floorToMinute(nowMs) - o
      const covers = coveredOccurrences(task.schedule, occurrence!, state.firstSeen, state.lastOccurrence)
      result = lateMs > task.catchUpMs
        ? await recordMissed(this.#deps, task, occurrence!, options.trigger ?? 'api',
          `late by ${Math.round(lateMs / MINUTE)} min (catchUp allows ${task.catchUpMs / MINUTE} min)`, covers)
        : await startRun(this.#deps, { ...this.#runRequest(task, occurrence!, 1, 'occurrence', options, nowMs), covers })
      // Paused: nothing was claimed, the occurrence is not owed (docs/PAUSE.md); the task is
      // looked at again at its next occurrence.
      if (isPausedOutcome(result)) return result as RunOutcome
      if (result !== 'stale') {
        // Started, recorded, skipped or claimed elsewhere: this occurrence is spent either way,
        // and so is any retry of an older one (a retry of this one may already be pending).
        state.lastOccurrence = occurrence!
        if (state.retry !== undefined && state.retry.of.getTime() < o) delete state.retry
      }
    } else if (retry !== undefined && retry.at.getTime() <= nowMs) {
      result = await startRun(this.#deps, this.#runRequest(task, retry.of, retry.attempt, 'retry', options, nowMs))
      // Paused: the retry stays pending in the store and waits for the resume.
      if (isPausedOutcome(result)) return result as RunOutcome
      if (result !== 'stale' && state.retry === retry) delete state.retry
    } else if (this.#buffered.has(task.name) && buffers(task)) {
      const of = this.#buffered.get(task.name)!
      return this.#settleBuffer(task, of, await startRun(this.#deps, this.#runRequest(task, of, 1, 'buffer', options, nowMs)), nowMs)
    } else {
      return undefined
    }
    if (result !== 'stale') {
      // Buffered behind a run: checked again at the next minute's tick if its holder has not started it by then.
      if (!isActiveRun(result) && result.status === 'buffered') this.#queue.set(task.name, Math.min(this.#nextAt.get(task.name) ?? Infinity, floorToMinute(nowMs) + MINUTE))
      return this.#watch(result)
    }
    if (reloaded) return undefined
    await this.#reloadStates(nowMs)
    return await this.#evaluate(task, nowMs, options, true)
  }

  async #forceOne (task: ResolvedTask, nowMs: number, options: TickOptions): Promise<Decision> {
    const result = await startRun(this.#deps, this.#runRequest(task, new Date(floorToMinute(nowMs)), 1, 'none', options, nowMs, true))
    return result === 'stale' ? undefined : this.#watch(result)
  }

  #runRequest (task: ResolvedTask, scheduledFor: Date, attempt: number, claim: RunRequest['claim'], options: TickOptions, nowMs: number, forced = false): RunRequest {
    const req: RunRequest = { task, scheduledFor, forced, attempt, claim, trigger: options.trigger ?? 'api', request: requestOf(options), tickMs: nowMs }
    if (options.payload !== undefined) req.payload = options.payload
    return req
  }

  #watch (run: ActiveRun | RunOutcome): ActiveRun | RunOutcome {
    if (!isActiveRun(run)) return run
    this.#running.set(run.runId, run)
    void run.settled.then(() => {
      this.#running.delete(run.runId)
      const task = this.#tasks.get(run.task)
      if (task === undefined || !buffers(task)) return
      this.#track(this.#startBuffered(task, run.trigger).catch((err: unknown) => {
        this.#config.log.warn({ task: task.name, err }, 'could not start the buffered run; the next tick tries again')
        this.#queue.set(task.name, -Infinity)
      }))
    })
    return run
  }

  #isoOf (ms: number): string {
    if (ms !== this.#isoMs) {
      this.#isoMs = ms
      this.#iso = new Date(ms).toISOString()
    }
    return this.#iso
  }

  #collect (nowMs: number, results: ReadonlyArray<ActiveRun | RunOutcome>, unavailable: TickResult['unavailable']): TickResult {
    if (results.length === 0 && unavailable.length === 0) return { now: this.#isoOf(nowMs), runs: [], unavailable, settled: NOTHING_SETTLED }
    const runs: RunOutcome[] = results.map(result => isActiveRun(result)
      ? { task: result.task, status: 'started', runId: result.runId, scheduledFor: result.scheduledFor.toISOString() }
      : result)
    const settled = Promise.all(results.map(result => isActiveRun(result) ? result.outcome : result))
    return { now: new Date(nowMs).toISOString(), runs, unavailable, settled }
  }
}
