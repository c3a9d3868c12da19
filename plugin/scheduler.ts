/**
 * The scheduler behind `app.scheduler` (SPEC §4, §7).
 *
 * Every enabled, scheduled task sits in a DueQueue keyed by the first instant it could be
 * due. A tick pops what is due; for each such task it takes `o = previous(now)` and, when
 * `o` is owed (at or after `firstSeen`, after `lastOccurrence`), claims it in the store.
 * Only the claim's winner acts: it runs the task when the tick is within `catchUp` of `o`,
 * and records the occurrence as `missed` otherwise. Everything else in a tick is local.
 *
 * `firstSeen` is set by the first tick that evaluates a task (with that tick's `now`), so
 * tests that drive time with `tick(new Date(...))` behave as production does.
 */
import type { ResolvedTask } from '../tasks/types.js'
import { ClosedError, UnknownTaskError, storeUnavailable } from './errors.js'
import { DueQueue } from './due-queue.js'
import { isActiveRun, recordWithoutRunning, RunAbortedError, startRun, type ActiveRun, type RunnerDeps, type RunRequest } from './runner.js'
import type { HistoryPage, HistoryQuery, Store, TaskState } from './stores/store.js'
import type {
  RunOutcome, SchedulerApi, SchedulerListing, TaskInput, TaskListing, TickOptions, TickResult
} from './types.js'

const MINUTE = 60_000
/** What an idle tick's `settled` resolves to: shared, since most ticks run nothing. */
const NOTHING_SETTLED: Promise<RunOutcome[]> = Promise.resolve(Object.freeze([]) as unknown as RunOutcome[])

export interface SchedulerConfig extends RunnerDeps {
  closeGraceMs: number
  /** Called by `add()`; throws once the app is ready. */
  addTask: (task: TaskInput) => void
}

/** The tick's request record, built once (the route passes a builder so idle ticks skip it). */
function requestOf (options: TickOptions): RunRequest['request'] {
  if (typeof options.request === 'function') options.request = options.request()
  return options.request
}

function floorToMinute (ms: number): number {
  return ms - (((ms % MINUTE) + MINUTE) % MINUTE)
}

export class Scheduler implements SchedulerApi {
  readonly store: Store
  #config: SchedulerConfig
  #tasks = new Map<string, ResolvedTask>()
  #queue = new DueQueue()
  #states = new Map<string, TaskState>()
  #running = new Map<string, ActiveRun>()
  #lastTickAt: Date | undefined
  #closed = false
  #storeReady: Promise<void> | undefined
  #statesLoaded: Promise<void> | undefined

  constructor (config: SchedulerConfig) {
    this.#config = config
    this.store = config.store
  }

  get taskNames (): readonly string[] {
    return [...this.#tasks.keys()]
  }

  get lastTickAt (): Date | undefined {
    return this.#lastTickAt
  }

  add (task: TaskInput): void {
    this.#config.addTask(task)
  }

  /** Install the resolved tasks; called once when the app is ready. */
  start (tasks: readonly ResolvedTask[]): void {
    for (const task of tasks) {
      this.#tasks.set(task.name, task)
      if (task.enabled && !task.schedule.manual) this.#queue.set(task.name, -Infinity)
    }
  }

  /** Initialise the store once; a failure is retried by the next call. */
  ensureStore (): Promise<void> {
    this.#storeReady ??= this.store.init().catch((err: unknown) => {
      this.#storeReady = undefined
      throw storeUnavailable(err)
    })
    return this.#storeReady
  }

  async tick (arg?: Date | TickOptions): Promise<TickResult> {
    // A copy: requestOf() replaces a request builder with what it built.
    const options: TickOptions = arg instanceof Date ? { now: arg } : { ...arg }
    if (this.#closed) throw new ClosedError()
    const nowMs = options.now?.getTime() ?? this.#config.clock()
    this.#lastTickAt = new Date(this.#config.clock())
    const named = options.tasks === undefined ? undefined : this.#lookup(options.tasks)

    if (options.force === true) {
      const targets = named ?? [...this.#tasks.values()]
      return this.#collect(nowMs, await this.#force(targets.filter(t => t.enabled), nowMs, options))
    }

    let candidates: ResolvedTask[]
    if (named === undefined) {
      if (this.#queue.peek() > nowMs) return this.#collect(nowMs, [])
      candidates = this.#queue.popDue(nowMs).map(name => this.#tasks.get(name) as ResolvedTask)
    } else {
      candidates = named.filter(t => t.enabled && !t.schedule.manual)
    }
    const pending: Array<Promise<ActiveRun | RunOutcome | undefined>> = []
    try {
      await this.#prepareStore(nowMs)
    } catch (err) {
      // Nothing was claimed: put the tasks back so the next tick retries them.
      for (const task of candidates) this.#queue.set(task.name, -Infinity)
      throw err
    }
    for (const task of candidates) pending.push(this.#evaluate(task, nowMs, options))
    const settled = await Promise.allSettled(pending)
    const results: Array<ActiveRun | RunOutcome> = []
    let storeError: unknown
    settled.forEach((result, i) => {
      if (result.status === 'fulfilled') {
        if (result.value !== undefined) results.push(result.value)
      } else {
        storeError ??= result.reason
        this.#queue.set(candidates[i].name, -Infinity)
      }
    })
    if (storeError !== undefined && results.length === 0) throw storeUnavailable(storeError)
    if (storeError !== undefined) this.#config.log.error({ err: storeError }, 'store error during tick; affected tasks retry at the next tick')
    return this.#collect(nowMs, results)
  }

  async run (name: string, options: { force?: boolean, now?: Date } = {}): Promise<RunOutcome> {
    const result = await this.tick({
      tasks: [name], force: options.force === true, trigger: 'manual', ...(options.now !== undefined ? { now: options.now } : {})
    })
    const outcomes = await result.settled
    const now = new Date(floorToMinute(options.now?.getTime() ?? this.#config.clock())).toISOString()
    return outcomes[0] ?? { task: name, status: 'skipped', reason: 'not due', scheduledFor: now }
  }

  async list (now?: Date): Promise<SchedulerListing> {
    const nowMs = now?.getTime() ?? this.#config.clock()
    await this.ensureStore()
    const names = this.taskNames
    let lastRuns
    try {
      await this.#reapAbandoned()
      lastRuns = await this.store.lastRuns(names)
    } catch (err) {
      throw storeUnavailable(err)
    }
    const runningHere = new Set([...this.#running.values()].map(run => run.task))
    const tasks: TaskListing[] = [...this.#tasks.values()].map(task => {
      const last = lastRuns.get(task.name)
      const next = task.enabled ? task.schedule.next(new Date(nowMs)) : undefined
      return {
        name: task.name,
        schedule: task.schedule.describe(),
        cron: task.schedule.cron ?? null,
        timezone: task.timezone,
        enabled: task.enabled,
        manual: task.schedule.manual,
        nextRun: next?.toISOString() ?? null,
        lastRun: last === undefined
          ? null
          : {
              status: last.status,
              startedAt: last.startedAt.toISOString(),
              finishedAt: last.finishedAt?.toISOString() ?? null,
              durationMs: last.durationMs ?? null
            },
        runningNow: runningHere.has(task.name) || last?.status === 'running',
        source: task.source
      }
    })
    return {
      now: new Date(nowMs).toISOString(),
      store: { kind: this.store.kind, durable: this.store.durable },
      lastTick: this.#lastTickAt?.toISOString() ?? null,
      tasks
    }
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
   * Stop: refuse new ticks, abort every running task's signal, and wait for them up to the
   * grace period. Runs still going after it keep their 'running' record; their leases
   * expire and another process records them abandoned.
   */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const runs = [...this.#running.values()]
    for (const run of runs) run.controller.abort(new RunAbortedError('shutdown', 'the app is closing'))
    if (runs.length === 0) return
    let timer: NodeJS.Timeout | undefined
    const grace = new Promise<void>(resolve => { timer = setTimeout(resolve, this.#config.closeGraceMs) })
    await Promise.race([Promise.allSettled(runs.map(run => run.settled)), grace])
    clearTimeout(timer)
  }

  #lookup (names: readonly string[]): ResolvedTask[] {
    return names.map(name => {
      const task = this.#tasks.get(name)
      if (task === undefined) throw new UnknownTaskError(name)
      return task
    })
  }

  /** Init the store, load task states (first tick only) and reap expired leases. */
  async #prepareStore (nowMs: number): Promise<void> {
    await this.ensureStore()
    try {
      await this.#loadStates(nowMs)
      await this.#reapAbandoned()
    } catch (err) {
      throw storeUnavailable(err)
    }
  }

  /** Register every task with the store once, with the first tick's minute as firstSeen. */
  #loadStates (nowMs: number): Promise<void> {
    this.#statesLoaded ??= this.store.ensureTasks(this.taskNames, new Date(floorToMinute(nowMs))).then(states => {
      for (const [name, state] of states) this.#states.set(name, state)
    }, (err: unknown) => {
      this.#statesLoaded = undefined
      throw err
    })
    return this.#statesLoaded
  }

  async #reapAbandoned (): Promise<void> {
    const expired = await this.store.reapExpiredLeases(this.#config.clock())
    for (const lease of expired) {
      if (this.#running.has(lease.owner)) continue
      if (await this.store.markAbandoned(lease.owner, new Date(this.#config.clock()))) {
        this.#config.log.warn({ runId: lease.owner, lease: lease.key }, 'run abandoned: its lease expired while it was running')
      }
    }
  }

  /** Decide what an owed occurrence gets: nothing, a run, or a missed record. */
  async #evaluate (task: ResolvedTask, nowMs: number, options: TickOptions): Promise<ActiveRun | RunOutcome | undefined> {
    const now = new Date(nowMs)
    const next = task.schedule.next(now)
    this.#queue.set(task.name, next?.getTime() ?? Infinity)
    const occurrence = task.schedule.previous(now)
    const state = this.#states.get(task.name)
    if (occurrence === undefined || state === undefined) return undefined
    const o = occurrence.getTime()
    if (o < state.firstSeen.getTime()) return undefined
    if (state.lastOccurrence !== undefined && o <= state.lastOccurrence.getTime()) return undefined

    const won = await this.store.claimOccurrence(task.name, occurrence)
    // Won or lost, someone holds this occurrence now: never ask the store about it again.
    state.lastOccurrence = occurrence
    const scheduledFor = occurrence.toISOString()
    if (!won) return { task: task.name, status: 'skipped', reason: 'claimed elsewhere', scheduledFor }

    const lateMs = floorToMinute(nowMs) - o
    if (lateMs > task.catchUpMs) return this.#recordMissed(task, occurrence, lateMs, options)
    return startRun(this.#config, this.#runRequest(task, occurrence, false, options)).then(run => this.#track(run))
  }

  async #recordMissed (task: ResolvedTask, occurrence: Date, lateMs: number, options: TickOptions): Promise<RunOutcome> {
    const reason = `late by ${Math.round(lateMs / MINUTE)} min (catchUp allows ${task.catchUpMs / MINUTE} min)`
    const missed = await recordWithoutRunning(this.#config, { task, scheduledFor: occurrence, trigger: options.trigger ?? 'manual' }, 'missed', reason)
    this.#config.log.warn({ task: task.name, scheduledFor: occurrence, lateMs }, 'occurrence missed: the tick came too late for catchUp')
    return missed
  }

  async #force (tasks: readonly ResolvedTask[], nowMs: number, options: TickOptions): Promise<Array<ActiveRun | RunOutcome>> {
    await this.#prepareStore(nowMs)
    const scheduledFor = new Date(floorToMinute(nowMs))
    try {
      return await Promise.all(tasks.map(task =>
        startRun(this.#config, this.#runRequest(task, scheduledFor, true, options)).then(run => this.#track(run))))
    } catch (err) {
      throw storeUnavailable(err)
    }
  }

  #runRequest (task: ResolvedTask, scheduledFor: Date, forced: boolean, options: TickOptions): RunRequest {
    return { task, scheduledFor, forced, trigger: options.trigger ?? 'manual', request: requestOf(options) }
  }

  #track (run: ActiveRun | RunOutcome): ActiveRun | RunOutcome {
    if (!isActiveRun(run)) return run
    this.#running.set(run.runId, run)
    void run.settled.then(() => this.#running.delete(run.runId))
    return run
  }

  #collect (nowMs: number, results: ReadonlyArray<ActiveRun | RunOutcome>): TickResult {
    if (results.length === 0) return { now: new Date(nowMs).toISOString(), runs: [], settled: NOTHING_SETTLED }
    const runs: RunOutcome[] = results.map(result => isActiveRun(result)
      ? { task: result.task, status: 'started', runId: result.runId, scheduledFor: result.scheduledFor.toISOString() }
      : result)
    const settled = Promise.all(results.map(result => isActiveRun(result) ? result.outcome : result))
    return { now: new Date(nowMs).toISOString(), runs, settled }
  }
}
