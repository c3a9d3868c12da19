/**
 * The Redis store (ioredis): the contract methods. Every method that reads and then writes
 * is ONE Lua script (`scripts/*.lua`, loaded by `scripts.ts`), so Redis runs it atomically
 * and a call is one round trip. Lease expiry is compared to the caller's `nowMs` (passed in
 * ARGV), never to Redis's own clock. Connection handling is in `connection.ts`. The design
 * and fault model are in `docs/ARCHITECTURE.md`.
 *
 * Keys, all under `prefix` (default `fastify-scheduler:`):
 *   schema                  the layout version (3); v1 and v2 keys stay valid as they are
 *   first, last             hashes task -> firstSeen ms, task -> lastOccurrence ms
 *   attempt                 hash task -> the attempt of the newest claim of its lastOccurrence;
 *                           missing (older data) reads as "unknown" and passes the fences
 *   retry                   hash task -> pending retry "of|attempt|at" (ms, n, ms)
 *   buffered                hash task -> its buffered run's occurrence ms (docs/OVERLAP.md)
 *   lease:superseded        hash lease key -> the run id a newer occurrence superseded
 *   lease:owner             hash lease key -> owner (the run id)
 *   lease:expiry            sorted set of lease keys scored by expiresAt ms
 *   lease:token             the fencing counter: INCR on every lease taken, only raised by rebase
 *   tick                    the latest tick (ms); only moves forward
 *   pauses                  hash task ('' for everything) -> the pause in force, JSON
 *                           `{ since, reason?, by? }` (layout v3, docs/PAUSE.md)
 *   run:<id>                hash of one run record (instants as ms strings; `forced` '1'/'0';
 *                           a v1 hash has no attempt/forced/instance: read as 1, false), plus
 *                           `leaseToken` while it runs
 *   runs, runs:task:<task>  sorted sets of run ids scored by startedAt ms; equal scores sort
 *                           by id, so a reverse range is "newest first, then id descending"
 *
 * Scripts that reach run hashes get the `run:` prefix as a key, so a client `keyPrefix`
 * applies to them too and every key a script touches is declared; on Redis Cluster the
 * prefix must hold a hash tag (`{scheduler}:`) so that they all live in one slot.
 * With `waitReplicas`, every claiming script is followed by `WAIT` in the same pipeline
 * (docs/ARCHITECTURE.md#the-fault-model: a failover to a lagging replica).
 */
import type { Redis } from 'ioredis'
import { InvalidOptionError, storeUnavailable } from '../../../core/errors.js'
import { RUN_FIELDS, runFromStored, runToStored, withStoreErrors, type StoredRun } from '../driver.js'
import { backfillFromStored, BUFFERED_REASON, comparePauses, pageOfRuns, TAKEOVER_REASON, type StoredBackfill } from '../history.js'
import type { PendingRetry, RunRecord, StartRunResult, Store, StoreInitContext, TaskBuffered, TaskPause, TaskRetry, TaskState } from '../store.js'
import {
  DEFAULT_REDIS_PREFIX, DEFAULT_REDIS_TIMEOUT_MS, endClient, notAcknowledged, persistence, REDIS_NOT_PERSISTENT,
  resolveClient, type Client, type RedisStoreOptions
} from './connection.js'
import { SCRIPTS, type ScriptName } from './scripts.js'

export { DEFAULT_REDIS_PREFIX, DEFAULT_REDIS_TIMEOUT_MS, REDIS_NOT_PERSISTENT, type RedisStoreOptions }

/**
 * The key layout this code writes; v1 (no schema key) and v2 need no change to be read. v3
 * added `pauses`: code that reads v2 would start paused tasks, so it refuses v3.
 */
const SCHEMA_VERSION = 3

type Script = (...args: Array<string | number>) => Promise<unknown>
type ScriptedClient = Client & { [name in ScriptName]: Script }

type RunRow = Array<string | null>

/** A run hash as the scripts return it (values in RUN_FIELDS order) back to a RunRecord. */
function runFromRow (row: RunRow): RunRecord {
  return runFromStored(Object.fromEntries(RUN_FIELDS.map((field, i) => [field, row[i]])) as StoredRun)
}

/** A run as hash field/value pairs, leaving out unset optional fields. */
function runToFields (run: RunRecord): string[] {
  const stored = runToStored(run, (date) => date.getTime())
  return RUN_FIELDS.flatMap((field) => {
    const value = stored[field]
    if (value === null) return []
    return [field, typeof value === 'boolean' ? (value ? '1' : '0') : String(value)]
  })
}

/** A pending retry as the `retry` hash holds it: "of|attempt|at". */
function retryToField (retry: PendingRetry): string {
  return `${retry.of.getTime()}|${retry.attempt}|${retry.at.getTime()}`
}

function retryFromField (value: string): PendingRetry {
  const [of, attempt, at] = value.split('|')
  return { of: new Date(Number(of)), attempt: Number(attempt), at: new Date(Number(at)) }
}

/** A pause as the `pauses` hash holds it (field: task, '' for everything). */
function pauseToField ({ since, reason, by }: { since: Date, reason?: string | undefined, by?: string | undefined }): string {
  return JSON.stringify({ since: since.getTime(), reason, by })
}

function pauseFromField (task: string, value: string): TaskPause {
  const { since, reason, by } = JSON.parse(value) as { since: number, reason?: string, by?: string }
  const pause: TaskPause = { task: task === '' ? null : task, since: new Date(since) }
  if (reason !== undefined) pause.reason = reason
  if (by !== undefined) pause.by = by
  return pause
}

/**
 * A store in Redis: see the module comment for the keys and `RedisStoreOptions` for the options.
 *
 * @example
 * ```ts
 * redisStore({ url: 'redis://127.0.0.1:6379', timeout: '5 seconds' })
 * redisStore({ client: new Cluster(nodes), prefix: '{scheduler}:' }) // one hash slot on Redis Cluster
 * ```
 */
/** A startRun reply of start-run.lua or start-backfill.lua. */
function startReply (reply: [string, (string | number)?, string?]): StartRunResult {
  const [outcome, detail, abandoned] = reply
  switch (outcome) {
    case 'started':
      return abandoned === undefined
        ? { outcome, leaseToken: Number(detail) }
        : { outcome, leaseToken: Number(detail), abandoned }
    case 'overlap': case 'buffered': case 'busy':
      return { outcome, holder: String(detail) }
    case 'recorded': case 'claimed': case 'stale':
      return { outcome }
    case 'paused':
      return { outcome, pause: pauseFromField(String(detail), String(abandoned)) }
    default:
      throw storeUnavailable(new Error(`unexpected startRun reply from Redis: ${JSON.stringify(reply)}`))
  }
}

export function redisStore (options: RedisStoreOptions): Store {
  const prefix = options.prefix ?? DEFAULT_REDIS_PREFIX
  if (typeof prefix !== 'string') throw new InvalidOptionError('redisStore: prefix must be a string')
  const { client, owned, timeoutMs, wait, explain, notConnected } = resolveClient(options, prefix)
  for (const [name, definition] of Object.entries(SCRIPTS)) client.defineCommand(name, definition)
  const redis = client as ScriptedClient

  const keys = {
    schema: `${prefix}schema`,
    first: `${prefix}first`,
    last: `${prefix}last`,
    attempt: `${prefix}attempt`,
    retry: `${prefix}retry`,
    leaseOwners: `${prefix}lease:owner`,
    leaseExpiry: `${prefix}lease:expiry`,
    leaseToken: `${prefix}lease:token`,
    buffered: `${prefix}buffered`,
    superseded: `${prefix}lease:superseded`,
    tick: `${prefix}tick`,
    claim: (key: string) => `${prefix}claim:${key}`,
    pauses: `${prefix}pauses`,
    backfills: `${prefix}backfills`,
    runPrefix: `${prefix}run:`,
    runs: `${prefix}runs`,
    taskRuns: (task: string) => `${prefix}runs:task:${task}`
  }
  let closed = false
  let checkedPersistence = false

  /** One store call: fails at once while our own client is disconnected; every failure is the coded error. */
  async function call<T> (command: () => Promise<T>): Promise<T> {
    const problem = closed ? 'the Redis store is closed' : notConnected()
    if (problem !== undefined) throw storeUnavailable(new Error(problem))
    return await withStoreErrors(command, explain)
  }

  /**
   * A script that claims or writes task state. With `waitReplicas`, `WAIT` follows it in one
   * pipeline (one round trip), and the claim counts only once that many replicas have it:
   * otherwise a failover to a lagging replica would forget it (docs/ARCHITECTURE.md#the-fault-model).
   */
  async function claiming (name: ScriptName, ...args: Array<string | number>): Promise<unknown> {
    if (wait === undefined) return await call(() => redis[name](...args))
    return await call(async () => {
      const pipeline = redis.pipeline()
      // A pipeline carries the client's defined commands; its typings do not know them.
      void (pipeline as unknown as ScriptedClient)[name](...args)
      const replies = await pipeline.wait(wait.replicas, wait.timeoutMs).exec()
      if (replies === null) throw new Error('the pipeline was discarded')
      const [[scriptError, reply], [waitError, acknowledged]] = replies as Array<[Error | null, unknown]> as [[Error | null, unknown], [Error | null, unknown]]
      if (scriptError !== null) throw scriptError
      if (waitError !== null) throw waitError
      if (Number(acknowledged) < wait.replicas) throw notAcknowledged(wait, Number(acknowledged))
      return reply
    })
  }

  /** Once per store, after the first successful init: warn when a restart would lose everything. */
  async function warnIfNotPersistent (context: StoreInitContext | undefined): Promise<void> {
    if (checkedPersistence || context === undefined) return
    checkedPersistence = true
    const config = await persistence(client, timeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS)
    if (config !== undefined && config.appendonly !== 'yes' && config.save.trim() === '') {
      context.log.warn({ store: 'redis', appendonly: config.appendonly, save: config.save }, REDIS_NOT_PERSISTENT)
    }
  }

  /** Task states as ensure-tasks.lua and rebase.lua return them: firstSeen, last, retry per name. */
  function taskStates (names: readonly string[], reply: Array<string | null>): Map<string, TaskState> {
    const states = new Map<string, TaskState>()
    names.forEach((name, i) => {
      const [first, last, retry] = reply.slice(3 * i, 3 * i + 3)
      const state: TaskState = { firstSeen: new Date(Number(first)) }
      if (last != null) state.lastOccurrence = new Date(Number(last))
      if (retry != null) state.retry = retryFromField(retry)
      states.set(name, state)
    })
    return states
  }

  return {
    kind: 'redis',
    durable: true,

    async init (context) {
      if (owned && (client as Redis).status === 'wait') await call(() => (client as Redis).connect())
      const stored = await call(() => redis.fastifySchedulerInit(keys.schema, SCHEMA_VERSION)) as number
      if (stored > SCHEMA_VERSION) {
        throw storeUnavailable(new Error(`the keys under "${prefix}" were written by a newer fastify-scheduler ` +
          `(layout v${stored}); this one reads v${SCHEMA_VERSION}: upgrade it, or use another prefix`))
      }
      await warnIfNotPersistent(context)
    },

    async close () {
      if (!owned || closed) return
      closed = true
      await endClient(client as Redis)
    },

    async ensureTasks (names, firstSeen) {
      if (names.length === 0) return new Map()
      const reply = await claiming('fastifySchedulerEnsureTasks', keys.first, keys.last, keys.retry, firstSeen.getTime(), ...names)
      return taskStates(names, reply as Array<string | null>)
    },

    async startRun ({ run, claim, lease, historyLimit, overlap, backfill }): Promise<StartRunResult> {
      if (claim === 'backfill') {
        if (backfill === undefined || lease === undefined) return { outcome: 'claimed' }
        const reply = await claiming('fastifySchedulerStartBackfill',
          keys.leaseOwners, keys.leaseExpiry, keys.leaseToken, keys.runPrefix, keys.taskRuns(run.task), keys.runs, keys.pauses, keys.backfills,
          run.task, String(run.scheduledFor.getTime()), lease.key, lease.nowMs + lease.ttlMs, lease.nowMs,
          Math.max(0, Math.floor(historyLimit)), run.id, run.startedAt.getTime(), TAKEOVER_REASON,
          backfill.id, backfill.next === undefined ? '' : String(backfill.next.getTime()), ...runToFields(run)) as [string, (string | number)?, string?]
        return startReply(reply)
      }
      const reply = await claiming('fastifySchedulerStartRun',
        keys.first, keys.last, keys.retry, keys.leaseOwners, keys.leaseExpiry, keys.leaseToken,
        keys.runPrefix, keys.taskRuns(run.task), keys.runs, keys.attempt, keys.buffered, keys.superseded, keys.pauses,
        claim, run.task, run.scheduledFor.getTime(), run.attempt,
        lease?.key ?? '', lease === undefined ? 0 : lease.nowMs + lease.ttlMs, lease?.nowMs ?? 0,
        Math.max(0, Math.floor(historyLimit)), run.id, run.startedAt.getTime(), TAKEOVER_REASON,
        overlap ?? '', BUFFERED_REASON, ...runToFields(run)) as [string, (string | number)?, string?]
      return startReply(reply)
    },

    async createBackfill ({ id, task, from, to, total, next, createdAt }) {
      const json = JSON.stringify({
        id,
        task,
        from_ms: String(from.getTime()),
        to_ms: String(to.getTime()),
        total: String(total),
        next_ms: String(next.getTime()),
        done: '0',
        skipped: '0',
        created_at: String(createdAt.getTime())
      } satisfies StoredBackfill)
      const stored = await claiming('fastifySchedulerCreateBackfill', keys.backfills, id, task, String(from.getTime()), String(to.getTime()), json) as string
      return backfillFromStored(JSON.parse(stored) as StoredBackfill)
    },

    async renewLease (key, owner, ttlMs, nowMs) {
      const renewed = await call(() => redis.fastifySchedulerRenewLease(keys.leaseOwners, keys.leaseExpiry, keys.superseded, key, owner, nowMs + ttlMs))
      return renewed === 2 ? 'superseded' : renewed === 1
    },

    async releaseLease (key, owner) {
      return await call(() => redis.fastifySchedulerReleaseLease(keys.leaseOwners, keys.leaseExpiry, key, owner)) === 1
    },

    async finishRun (run, { leaseKey, historyLimit, retry }) {
      await claiming('fastifySchedulerFinishRun',
        keys.last, keys.attempt, keys.retry, keys.leaseOwners, keys.leaseExpiry, keys.runPrefix, keys.taskRuns(run.task), keys.runs,
        run.id, run.task, run.startedAt.getTime(), Math.max(0, Math.floor(historyLimit)),
        leaseKey ?? '', retry === undefined ? '' : retryToField(retry), run.forced ? '1' : '0',
        run.scheduledFor.getTime(), run.attempt, run.status, ...runToFields(run))
    },

    async abandonExpired (nowMs, reason) {
      const rows = await call(() =>
        redis.fastifySchedulerAbandonExpired(keys.leaseOwners, keys.leaseExpiry, keys.runPrefix, nowMs, reason)) as RunRow[]
      return rows.map(runFromRow)
    },

    async retryAbandoned (run, retry) {
      return await claiming('fastifySchedulerRetryAbandoned', keys.last, keys.attempt, keys.retry, keys.runPrefix,
        run.id, run.task, run.scheduledFor.getTime(), run.attempt, run.forced ? '1' : '0', retryToField(retry)) === 1
    },

    async heartbeat (tick) {
      const [last, flat, fence, flatBuffered, flatPauses, backfillJson] = await call(() => redis.fastifySchedulerHeartbeat(keys.tick, keys.retry, keys.leaseToken,
        keys.buffered, keys.pauses, keys.backfills, tick === undefined ? '' : tick.at.getTime())) as [string | null, string[], number, string[], string[], string[] | undefined]
      const retries: TaskRetry[] = []
      for (let i = 0; i < flat.length; i += 2) retries.push({ task: flat[i]!, ...retryFromField(flat[i + 1]!) })
      const buffered: TaskBuffered[] = []
      for (let i = 0; i < flatBuffered.length; i += 2) buffered.push({ task: flatBuffered[i]!, of: new Date(Number(flatBuffered[i + 1])) })
      buffered.sort((a, b) => a.task < b.task ? -1 : a.task > b.task ? 1 : 0)
      const paused: TaskPause[] = []
      for (let i = 0; i < flatPauses.length; i += 2) paused.push(pauseFromField(flatPauses[i]!, flatPauses[i + 1]!))
      paused.sort(comparePauses)
      const backfills = (backfillJson ?? []).map(json => backfillFromStored(JSON.parse(json) as StoredBackfill))
        .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      return last == null
        ? { retries, fence: Number(fence), buffered, paused, backfills }
        : { lastTick: new Date(Number(last)), retries, fence: Number(fence), buffered, paused, backfills }
    },

    async pause (request) {
      const field = request.task ?? ''
      const stored = await claiming('fastifySchedulerPause', keys.pauses, field, pauseToField(request)) as string
      return pauseFromField(field, stored)
    },

    async resume ({ task, skip = [], historyLimit }) {
      const field = task ?? ''
      const recordArgs = skip.flatMap(run => {
        const fields = runToFields(run)
        return [run.task, run.scheduledFor.getTime(), run.id, run.startedAt.getTime(), fields.length, ...fields]
      })
      const lifted = await claiming('fastifySchedulerResume', 7 + skip.length,
        keys.pauses, keys.first, keys.last, keys.attempt, keys.retry, keys.runPrefix, keys.runs, ...skip.map(run => keys.taskRuns(run.task)),
        field, Math.max(0, Math.floor(historyLimit)), ...recordArgs) as string | null
      return lifted === null ? undefined : pauseFromField(field, lifted)
    },

    async rebase (names, firstSeen, fence) {
      const reply = await claiming('fastifySchedulerRebase', keys.first, keys.last, keys.retry, keys.leaseToken,
        firstSeen.getTime(), Math.max(0, Math.floor(fence)), ...names)
      return taskStates(names, reply as Array<string | null>)
    },

    async time () {
      const [seconds, micros] = await call(() => client.time())
      return Math.round(Number(seconds) * 1000 + Number(micros) / 1000)
    },

    async claimOnce (key, until) {
      // SET NX with an absolute expiry: Redis forgets the claim at `until`, by its own clock.
      const reply = await call(() => client.set(keys.claim(key), '1', 'PXAT', until.getTime(), 'NX'))
      return reply === 'OK'
    },

    async listRuns (query) {
      // Statuses travel as trailing arguments, so "none given" and "empty" would look alike.
      if (query.status !== undefined && query.status.length === 0) return { runs: [], total: 0 }
      const { limit, offset } = pageOfRuns(query)
      // taskCount -1 means "no task filter"; statuses, when given, follow the tasks.
      const taskArgs = query.task === undefined ? [-1] : [query.task.length, ...query.task]
      const statusArgs = query.status ?? []
      const [total, ...rows] = await call(() =>
        redis.fastifySchedulerListRuns(keys.runs, keys.runPrefix, offset, limit, ...taskArgs, ...statusArgs)) as [number, ...RunRow[]]
      return { runs: rows.map(runFromRow), total }
    },

    async recentRuns (names, limit) {
      const recent = new Map<string, RunRecord[]>()
      if (names.length === 0) return recent
      const lists = await call(() => redis.fastifySchedulerRecentRuns(
        1 + names.length, keys.runPrefix, ...names.map(keys.taskRuns), Math.max(0, Math.floor(limit)))) as RunRow[][]
      names.forEach((name, i) => { if (lists[i]!.length > 0) recent.set(name, lists[i]!.map(runFromRow)) })
      return recent
    }
  }
}
