/**
 * The memory store: state lives in this process only (durable: false). For tests and
 * throwaway use. Every method runs synchronously inside its promise, so each one is
 * atomic with respect to the others without any locking. It is also the reference
 * implementation of the contract in `store.ts`: the SQL and Lua stores do the same steps.
 */
import type {
  Backfill, ClusterState, HistoryPage, HistoryQuery, PendingRetry, RunRecord, StartRunResult, Store, TaskPause, TaskState
} from './store.js'
import { bufferedRecord, comparePauses, compareRunsNewestFirst, overlapRecord, pageOfRuns, pruneVictims, SETTLED_STATUSES, TAKEOVER_REASON } from './history.js'

interface Lease { owner: string, expiresAt: number, superseded?: boolean }
/** `attempt`: the newest attempt claimed of `lastOccurrence` (the fence of late results). */
interface TaskRow { firstSeen: number, lastOccurrence?: number, attempt?: number, retry?: PendingRetry, buffered?: number }

/** Copy a record so callers never share (and mutate) what the store holds. */
function copyRun (run: RunRecord): RunRecord {
  const copy: RunRecord = { ...run, scheduledFor: new Date(run.scheduledFor), startedAt: new Date(run.startedAt) }
  if (run.finishedAt !== undefined) copy.finishedAt = new Date(run.finishedAt)
  for (const key of Object.keys(copy) as Array<keyof RunRecord>) {
    if (copy[key] === undefined) delete copy[key]
  }
  return copy
}

function copyPause (pause: TaskPause): TaskPause {
  const copy: TaskPause = { task: pause.task, since: new Date(pause.since) }
  if (pause.reason !== undefined) copy.reason = pause.reason
  if (pause.by !== undefined) copy.by = pause.by
  return copy
}

function copyBackfill (b: Backfill): Backfill {
  const copy: Backfill = { ...b, from: new Date(b.from), to: new Date(b.to), createdAt: new Date(b.createdAt) }
  if (b.next !== undefined) copy.next = new Date(b.next)
  else delete copy.next
  return copy
}

function copyRetry (retry: PendingRetry): PendingRetry {
  return { of: new Date(retry.of), attempt: retry.attempt, at: new Date(retry.at) }
}

export function memoryStore (): Store {
  const tasks = new Map<string, TaskRow>()
  const leases = new Map<string, Lease>()
  const runs = new Map<string, RunRecord>()
  let leaseTokens = 0
  /** `claimOnce` keys, each with the epoch ms until which it is remembered. */
  const claims = new Map<string, number>()
  /** Pauses in force, by task; '' for the pause of everything. */
  const pauses = new Map<string, TaskPause>()
  let lastTick: number | undefined
  /** Backfills, in creation order (docs/PAYLOADS.md#backfills). */
  const backfills = new Map<string, Backfill>()

  function prune (task: string, historyLimit: number): void {
    const ofTask = [...runs.values()].filter((r) => r.task === task)
    for (const victim of pruneVictims(ofTask, historyLimit)) runs.delete(victim.id)
  }

  function write (run: RunRecord, historyLimit: number): void {
    runs.set(run.id, copyRun(run))
    prune(run.task, historyLimit)
  }

  /**
   * The fence of late results (see `docs/ARCHITECTURE.md#late-results`): the task row when
   * `run` is a scheduled run of the task's last claimed occurrence, else undefined.
   */
  function ofLastOccurrence (run: RunRecord): TaskRow | undefined {
    const row = tasks.get(run.task)
    return row === undefined || run.forced || row.lastOccurrence !== run.scheduledFor.getTime() ? undefined : row
  }

  /** True when `run` is the newest attempt claimed of its occurrence (an unknown attempt, from an older store, passes). */
  function isNewestAttempt (row: TaskRow, run: RunRecord): boolean {
    return (row.attempt ?? run.attempt) === run.attempt
  }

  function statesOf (names: readonly string[]): Map<string, TaskState> {
    const states = new Map<string, TaskState>()
    for (const name of names) {
      const row = tasks.get(name)!
      const state: TaskState = { firstSeen: new Date(row.firstSeen) }
      if (row.lastOccurrence !== undefined) state.lastOccurrence = new Date(row.lastOccurrence)
      if (row.retry !== undefined) state.retry = copyRetry(row.retry)
      states.set(name, state)
    }
    return states
  }

  function abandon (runId: string, nowMs: number, reason: string): RunRecord | undefined {
    const run = runs.get(runId)
    if (run === undefined || run.status !== 'running') return undefined
    run.status = 'abandoned'
    run.finishedAt = new Date(nowMs)
    run.durationMs = Math.max(0, nowMs - run.startedAt.getTime())
    run.error = reason
    return copyRun(run)
  }

  return {
    kind: 'memory',
    durable: false,

    async init () {},
    async close () {},

    async ensureTasks (names, firstSeen) {
      for (const name of names) {
        if (!tasks.has(name)) tasks.set(name, { firstSeen: firstSeen.getTime() })
      }
      return statesOf(names)
    },

    async rebase (names, firstSeen, fence) {
      for (const name of names) {
        const row = tasks.get(name)
        if (row === undefined) {
          tasks.set(name, { firstSeen: firstSeen.getTime() })
        } else {
          row.firstSeen = firstSeen.getTime()
          delete row.retry
        }
      }
      leaseTokens = Math.max(leaseTokens, fence)
      return statesOf(names)
    },

    async startRun ({ run, claim, lease, historyLimit, overlap, backfill: backfillRequest }): Promise<StartRunResult> {
      const row = tasks.get(run.task)
      const at = run.scheduledFor.getTime()
      if (claim !== 'none') {
        const pause = pauses.get('') ?? pauses.get(run.task)
        if (pause !== undefined) return { outcome: 'paused', pause: copyPause(pause) }
      }
      if (claim === 'backfill') {
        const backfill = backfillRequest === undefined ? undefined : backfills.get(backfillRequest.id)
        if (backfill?.next?.getTime() !== at) return { outcome: 'claimed' }
        const moveOn = (): void => {
          if (backfillRequest!.next === undefined) delete backfill.next
          else backfill.next = new Date(backfillRequest!.next)
        }
        if ([...runs.values()].some(r => r.task === run.task && !r.forced && r.scheduledFor.getTime() === at)) {
          moveOn()
          backfill.skipped += 1
          return { outcome: 'claimed' }
        }
        const held = lease === undefined ? undefined : leases.get(lease.key)
        if (held !== undefined && held.expiresAt > lease!.nowMs) return { outcome: 'busy', holder: held.owner }
        moveOn()
        backfill.done += 1
      } else if (claim === 'buffer') {
        if (row?.buffered !== at) return { outcome: 'claimed' }
        const held = lease === undefined ? undefined : leases.get(lease.key)
        if (held !== undefined && held.expiresAt > lease!.nowMs) return { outcome: 'busy', holder: held.owner }
        delete row.buffered
      } else if (claim === 'occurrence') {
        if (row === undefined || at < row.firstSeen) return { outcome: 'stale' }
        if (row.lastOccurrence !== undefined && row.lastOccurrence >= at) return { outcome: 'claimed' }
      } else if (claim === 'retry') {
        if (row === undefined) return { outcome: 'stale' }
        if (row.retry === undefined || row.retry.of.getTime() !== at || row.retry.attempt !== run.attempt) return { outcome: 'claimed' }
      }
      const current = lease === undefined ? undefined : leases.get(lease.key)
      // The claim is made whatever happens next: an occurrence skipped for overlap is spent.
      if (claim === 'occurrence') {
        row!.lastOccurrence = at
        row!.attempt = 1
        delete row!.retry
      } else if (claim === 'retry') {
        row!.attempt = run.attempt
        delete row!.retry
      }
      if (lease === undefined) {
        write(run, historyLimit)
        return { outcome: 'recorded' }
      }
      if (current !== undefined && current.expiresAt > lease.nowMs) {
        if (overlap !== undefined && claim === 'occurrence' && row!.buffered === undefined) {
          row!.buffered = at
          if (overlap === 'cancelOther') current.superseded = true
          write(bufferedRecord(run), historyLimit)
          return { outcome: 'buffered', holder: current.owner }
        }
        write(overlapRecord(run), historyLimit)
        return { outcome: 'overlap', holder: current.owner }
      }
      const abandoned = current === undefined
        ? undefined
        : abandon(current.owner, lease.nowMs, TAKEOVER_REASON)
      leases.set(lease.key, { owner: run.id, expiresAt: lease.nowMs + lease.ttlMs })
      write(run, historyLimit)
      leaseTokens += 1
      return abandoned === undefined
        ? { outcome: 'started', leaseToken: leaseTokens }
        : { outcome: 'started', leaseToken: leaseTokens, abandoned: abandoned.id }
    },

    async renewLease (key, owner, ttlMs, nowMs) {
      const current = leases.get(key)
      if (current === undefined || current.owner !== owner) return false
      current.expiresAt = nowMs + ttlMs
      return current.superseded === true ? 'superseded' : true
    },

    async releaseLease (key, owner) {
      const current = leases.get(key)
      if (current === undefined || current.owner !== owner) return false
      leases.delete(key)
      return true
    },

    async finishRun (run, { leaseKey, historyLimit, retry }) {
      const stored = runs.get(run.id)
      if (stored === undefined || !SETTLED_STATUSES.includes(stored.status)) write(run, historyLimit)
      if (leaseKey !== undefined && leases.get(leaseKey)?.owner === run.id) leases.delete(leaseKey)
      const row = ofLastOccurrence(run)
      if (row === undefined) return
      if (retry !== undefined && isNewestAttempt(row, run)) row.retry = copyRetry(retry)
      // A late success cancels a retry of its occurrence that has not started.
      if (run.status === 'succeeded' && row.retry?.of.getTime() === run.scheduledFor.getTime()) delete row.retry
    },

    async abandonExpired (nowMs, reason) {
      const changed: RunRecord[] = []
      for (const [key, lease] of leases) {
        if (lease.expiresAt > nowMs) continue
        leases.delete(key)
        const abandoned = abandon(lease.owner, nowMs, reason)
        if (abandoned !== undefined) changed.push(abandoned)
      }
      return changed
    },

    async retryAbandoned (run, retry) {
      const row = ofLastOccurrence(run)
      if (row === undefined || !isNewestAttempt(row, run) || runs.get(run.id)?.status !== 'abandoned') return false
      row.retry = copyRetry(retry)
      return true
    },

    async heartbeat (tick): Promise<ClusterState> {
      if (tick !== undefined) lastTick = Math.max(lastTick ?? -Infinity, tick.at.getTime())
      const retries = [...tasks].flatMap(([task, row]) => row.retry === undefined ? [] : [{ task, ...copyRetry(row.retry) }])
      const buffered = [...tasks].flatMap(([task, row]) => row.buffered === undefined ? [] : [{ task, of: new Date(row.buffered) }])
      const paused = [...pauses.values()].map(copyPause).sort(comparePauses)
      const pending = [...backfills.values()].filter(b => b.next !== undefined).map(copyBackfill)
      return lastTick === undefined
        ? { retries, fence: leaseTokens, buffered, paused, backfills: pending }
        : { lastTick: new Date(lastTick), retries, fence: leaseTokens, buffered, paused, backfills: pending }
    },

    async createBackfill (request) {
      for (const b of backfills.values()) {
        if (b.task === request.task && b.next !== undefined && b.from.getTime() === request.from.getTime() && b.to.getTime() === request.to.getTime()) return copyBackfill(b)
      }
      const backfill: Backfill = { ...request, done: 0, skipped: 0 }
      backfills.set(request.id, copyBackfill(backfill))
      return copyBackfill(backfill)
    },

    async claimOnce (key, until) {
      // Forget claims whose time is over; the host's clock is the memory store's clock.
      const nowMs = Date.now()
      for (const [claimed, untilMs] of claims) if (untilMs < nowMs) claims.delete(claimed)
      if (claims.has(key)) return false
      claims.set(key, until.getTime())
      return true
    },

    async pause ({ task, since, reason, by }) {
      const key = task ?? ''
      let pause = pauses.get(key)
      if (pause === undefined) {
        pause = copyPause({ task: task ?? null, since, ...(reason !== undefined ? { reason } : {}), ...(by !== undefined ? { by } : {}) })
        pauses.set(key, pause)
      }
      return copyPause(pause)
    },

    async resume ({ task, skip = [], historyLimit }) {
      const key = task ?? ''
      const pause = pauses.get(key)
      if (pause === undefined) return undefined
      pauses.delete(key)
      for (const run of skip) {
        const row = tasks.get(run.task)
        const at = run.scheduledFor.getTime()
        if (row === undefined || at < row.firstSeen || (row.lastOccurrence !== undefined && row.lastOccurrence >= at)) continue
        row.lastOccurrence = at
        row.attempt = 1
        delete row.retry
        write(run, historyLimit)
      }
      return copyPause(pause)
    },

    async listRuns (query: HistoryQuery): Promise<HistoryPage> {
      const taskFilter = query.task === undefined ? undefined : new Set(query.task)
      const statusFilter = query.status === undefined ? undefined : new Set(query.status)
      const matching = [...runs.values()]
        .filter((r) => (taskFilter === undefined || taskFilter.has(r.task)) &&
          (statusFilter === undefined || statusFilter.has(r.status)))
        .sort(compareRunsNewestFirst)
      const page = pageOfRuns(query)
      return { runs: matching.slice(page.offset, page.offset + page.limit).map(copyRun), total: matching.length }
    },

    async recentRuns (names, limit) {
      const wanted = new Set(names)
      const byTask = new Map<string, RunRecord[]>()
      for (const run of runs.values()) {
        if (!wanted.has(run.task)) continue
        const list = byTask.get(run.task) ?? []
        list.push(run)
        byTask.set(run.task, list)
      }
      const newest = new Map<string, RunRecord[]>()
      const keep = Math.max(0, Math.floor(limit))
      for (const [task, list] of byTask) {
        if (keep > 0) newest.set(task, list.sort(compareRunsNewestFirst).slice(0, keep).map(copyRun))
      }
      return newest
    }
  }
}
