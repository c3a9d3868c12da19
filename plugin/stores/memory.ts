/**
 * The memory store: state lives in this process only (durable: false). For tests and
 * throwaway use. Every method runs synchronously inside its promise, so each one is
 * atomic with respect to the others without any locking.
 */
import type {
  ExpiredLease, HistoryPage, HistoryQuery, RunRecord, Store, TaskState
} from './store.js'
import { compareRunsNewestFirst, pageOfRuns, pruneVictims } from './history.js'

interface Lease { owner: string, expiresAt: number }

/** Copy a record so callers never share (and mutate) what the store holds. */
function copyRun (run: RunRecord): RunRecord {
  const copy: RunRecord = { ...run, scheduledFor: new Date(run.scheduledFor), startedAt: new Date(run.startedAt) }
  if (run.finishedAt !== undefined) copy.finishedAt = new Date(run.finishedAt)
  for (const key of Object.keys(copy) as Array<keyof RunRecord>) {
    if (copy[key] === undefined) delete copy[key]
  }
  return copy
}

export function memoryStore (): Store {
  const tasks = new Map<string, { firstSeen: number, lastOccurrence?: number }>()
  const leases = new Map<string, Lease>()
  const runs = new Map<string, RunRecord>()

  return {
    kind: 'memory',
    durable: false,

    async init () {},
    async close () {},

    async ensureTasks (names, firstSeen) {
      const states = new Map<string, TaskState>()
      for (const name of names) {
        let state = tasks.get(name)
        if (state === undefined) {
          state = { firstSeen: firstSeen.getTime() }
          tasks.set(name, state)
        }
        const out: TaskState = { firstSeen: new Date(state.firstSeen) }
        if (state.lastOccurrence !== undefined) out.lastOccurrence = new Date(state.lastOccurrence)
        states.set(name, out)
      }
      return states
    },

    async claimOccurrence (task, occurrence) {
      const at = occurrence.getTime()
      const state = tasks.get(task) ?? { firstSeen: at }
      if (state.lastOccurrence !== undefined && state.lastOccurrence >= at) return false
      state.lastOccurrence = at
      tasks.set(task, state)
      return true
    },

    async acquireLease (key, owner, ttlMs, nowMs) {
      const current = leases.get(key)
      if (current !== undefined && current.expiresAt > nowMs) return { acquired: false }
      leases.set(key, { owner, expiresAt: nowMs + ttlMs })
      return current === undefined ? { acquired: true } : { acquired: true, expiredOwner: current.owner }
    },

    async renewLease (key, owner, ttlMs, nowMs) {
      const current = leases.get(key)
      if (current === undefined || current.owner !== owner || current.expiresAt <= nowMs) return false
      current.expiresAt = nowMs + ttlMs
      return true
    },

    async releaseLease (key, owner) {
      const current = leases.get(key)
      if (current === undefined || current.owner !== owner) return false
      leases.delete(key)
      return true
    },

    async reapExpiredLeases (nowMs) {
      const expired: ExpiredLease[] = []
      for (const [key, lease] of leases) {
        if (lease.expiresAt <= nowMs) {
          leases.delete(key)
          expired.push({ key, owner: lease.owner })
        }
      }
      return expired
    },

    async recordRun (run, historyLimit) {
      runs.set(run.id, copyRun(run))
      const ofTask = [...runs.values()].filter((r) => r.task === run.task)
      for (const victim of pruneVictims(ofTask, historyLimit)) runs.delete(victim.id)
    },

    async markAbandoned (runId, finishedAt) {
      const run = runs.get(runId)
      if (run === undefined || run.status !== 'running') return false
      run.status = 'abandoned'
      run.finishedAt = new Date(finishedAt)
      return true
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

    async lastRuns (names) {
      const wanted = new Set(names)
      const newest = new Map<string, RunRecord>()
      for (const run of runs.values()) {
        if (!wanted.has(run.task)) continue
        const best = newest.get(run.task)
        if (best === undefined || compareRunsNewestFirst(run, best) < 0) newest.set(run.task, run)
      }
      return new Map([...newest].map(([name, run]) => [name, copyRun(run)]))
    }
  }
}
