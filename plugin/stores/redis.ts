/**
 * The Redis store (ioredis). Every operation that reads and then writes is one Lua script,
 * defined once per client with `defineCommand`, so Redis runs it atomically. Lease expiry
 * is compared to the caller's `nowMs` (passed in ARGV), never to Redis's own clock.
 *
 * Keys, all under `prefix` (default `fastify-scheduler:`):
 *   first, last             hashes task -> firstSeen ms, task -> lastOccurrence ms
 *   lease:owner             hash lease key -> owner
 *   lease:expiry            sorted set of lease keys scored by expiresAt ms
 *   run:<id>                hash of one run record (instants as ms strings)
 *   runs, runs:task:<task>  sorted sets of run ids scored by startedAt ms; equal scores sort
 *                           by id, so a reverse range is "newest first, then id descending"
 * Scripts that reach run hashes get the `run:` prefix as a key, so a client `keyPrefix`
 * applies to them too. On Redis Cluster, give a prefix with a hash tag (`{scheduler}:`) so
 * that every key lives in one slot.
 */
import type { Redis } from 'ioredis'
import { InvalidOptionError, storeUnavailable } from '../errors.js'
import { RUN_FIELDS, requireDriver, runFromStored, runToStored, withStoreErrors, type StoredRun } from './driver.js'
import { pageOfRuns } from './history.js'
import type { ExpiredLease, RunRecord, Store, TaskState } from './store.js'

export interface RedisStoreOptions {
  /** A client you manage: the store defines its scripts on it and never closes it. */
  client?: Redis
  /** Or a URL the store connects to (and disconnects from on close). */
  url?: string
  /** Prefix of every key, default `fastify-scheduler:`. */
  prefix?: string
}

export const DEFAULT_REDIS_PREFIX = 'fastify-scheduler:'

/** Options of a client the store creates: fail fast while Redis is down, reconnect in the background. */
const OWN_CLIENT_OPTIONS = {
  lazyConnect: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 2000,
  commandTimeout: 5000,
  retryStrategy: (attempt: number) => Math.min(attempt * 200, 2000)
}

/** Lua: read one run hash as an array in RUN_FIELDS order, or nil if it is gone. */
const READ_RUN_LUA = `
local function readRun (runPrefix, id)
  local row = redis.call('HMGET', runPrefix .. id, ${RUN_FIELDS.map((f) => `'${f}'`).join(', ')})
  if not row[1] then return nil end
  return row
end
`

const SCRIPTS = {
  // KEYS first, last; ARGV firstSeen, names... -> { firstSeen, lastOccurrence|nil, ... }
  fastifySchedulerEnsureTasks: {
    numberOfKeys: 2,
    lua: `
local out = {}
for i = 2, #ARGV do
  redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[1])
  out[#out + 1] = redis.call('HGET', KEYS[1], ARGV[i])
  out[#out + 1] = redis.call('HGET', KEYS[2], ARGV[i])
end
return out`
  },
  // KEYS first, last; ARGV task, occurrence -> 1 claimed, 0 refused
  fastifySchedulerClaim: {
    numberOfKeys: 2,
    lua: `
local last = redis.call('HGET', KEYS[2], ARGV[1])
if last and tonumber(last) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1`
  },
  // KEYS owners, expiry; ARGV key, owner, expiresAt, now -> { 1|0, expiredOwner? }
  fastifySchedulerAcquireLease: {
    numberOfKeys: 2,
    lua: `
local previous = redis.call('HGET', KEYS[1], ARGV[1])
if previous then
  local expiresAt = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]))
  if expiresAt and expiresAt > tonumber(ARGV[4]) then return { 0 } end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if previous then return { 1, previous } end
return { 1 }`
  },
  // KEYS owners, expiry; ARGV key, owner, expiresAt, now -> 1 renewed, 0 not held
  fastifySchedulerRenewLease: {
    numberOfKeys: 2,
    lua: `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
local expiresAt = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]))
if not expiresAt or expiresAt <= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1`
  },
  // KEYS owners, expiry; ARGV key, owner -> 1 released, 0 not held
  fastifySchedulerReleaseLease: {
    numberOfKeys: 2,
    lua: `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1`
  },
  // KEYS owners, expiry; ARGV now -> { key, owner, key, owner, ... }
  fastifySchedulerReapLeases: {
    numberOfKeys: 2,
    lua: `
local out = {}
for _, key in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])) do
  out[#out + 1] = key
  out[#out + 1] = redis.call('HGET', KEYS[1], key) or ''
  redis.call('HDEL', KEYS[1], key)
  redis.call('ZREM', KEYS[2], key)
end
return out`
  },
  // KEYS run hash, task runs, all runs, run prefix; ARGV id, startedAt, historyLimit, field, value, ...
  fastifySchedulerRecordRun: {
    numberOfKeys: 4,
    lua: `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
for _, id in ipairs(redis.call('ZREVRANGE', KEYS[2], tonumber(ARGV[3]), -1)) do
  if redis.call('HGET', KEYS[4] .. id, 'status') ~= 'running' then
    redis.call('DEL', KEYS[4] .. id)
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
  end
end
return 1`
  },
  // KEYS run hash; ARGV finishedAt -> 1 changed, 0 not running
  fastifySchedulerMarkAbandoned: {
    numberOfKeys: 1,
    lua: `
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'abandoned', 'finishedAt', ARGV[1])
return 1`
  },
  // KEYS all runs, run prefix; ARGV offset, limit, taskCount, tasks..., statuses...
  // -> { total, row, row, ... }. Without filters it pages the sorted set directly; with
  // filters it walks it newest first (history is bounded by historyLimit per task).
  fastifySchedulerListRuns: {
    numberOfKeys: 2,
    lua: READ_RUN_LUA + `
local offset, limit, taskCount = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tasks, statuses, filtered = nil, nil, false
if taskCount >= 0 then
  tasks, filtered = {}, true
  for i = 4, 3 + taskCount do tasks[ARGV[i]] = true end
end
if #ARGV > 3 + math.max(taskCount, 0) then
  statuses, filtered = {}, true
  for i = 4 + math.max(taskCount, 0), #ARGV do statuses[ARGV[i]] = true end
end
local out = { 0 }
if not filtered then
  out[1] = redis.call('ZCARD', KEYS[1])
  if limit > 0 then
    for _, id in ipairs(redis.call('ZREVRANGE', KEYS[1], offset, offset + limit - 1)) do
      local row = readRun(KEYS[2], id)
      if row then out[#out + 1] = row end
    end
  end
  return out
end
for _, id in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, -1)) do
  local taskAndStatus = redis.call('HMGET', KEYS[2] .. id, 'task', 'status')
  if taskAndStatus[1] and (not tasks or tasks[taskAndStatus[1]]) and (not statuses or statuses[taskAndStatus[2]]) then
    out[1] = out[1] + 1
    if out[1] > offset and #out - 1 < limit then out[#out + 1] = readRun(KEYS[2], id) end
  end
end
return out`
  },
  // KEYS run prefix, task runs...; -> { row or {}, ... } in KEYS order
  fastifySchedulerLastRuns: {
    lua: READ_RUN_LUA + `
local out = {}
for i = 2, #KEYS do
  local newest = redis.call('ZREVRANGE', KEYS[i], 0, 0)[1]
  out[#out + 1] = (newest and readRun(KEYS[1], newest)) or {}
end
return out`
  }
} as const

type ScriptName = keyof typeof SCRIPTS
type ScriptedRedis = Redis & { [name in ScriptName]: (...args: Array<string | number>) => Promise<unknown> }

type RunRow = Array<string | null>

/** A run hash as the scripts return it (values in RUN_FIELDS order) back to a RunRecord. */
function runFromRow (row: RunRow): RunRecord {
  return runFromStored(Object.fromEntries(RUN_FIELDS.map((field, i) => [field, row[i]])) as StoredRun)
}

/** A run as hash field/value pairs, leaving out unset optional fields. */
function runToFields (run: RunRecord): string[] {
  const stored = runToStored(run, (date) => date.getTime())
  return RUN_FIELDS.flatMap((field) => stored[field] === null ? [] : [field, String(stored[field])])
}

/** Where a URL points, without credentials, for error messages. */
function describeUrl (url: string): string {
  try {
    const { hostname, port } = new URL(url)
    return `Redis at ${hostname}:${port === '' ? '6379' : port}`
  } catch {
    return 'Redis'
  }
}

interface ResolvedClient {
  client: Redis
  /** True when the store created the client, and so must close it. */
  owned: boolean
  /** Why a call failed, said plainly (ioredis says "Stream isn't writeable and enableOfflineQueue options is false"). */
  explain: (err: unknown) => unknown
  /** Why our own client cannot take commands right now, if it cannot: then calls fail at once. */
  notConnected: () => string | undefined
}

/** ioredis's generic words for "no connection", behind which the real cause hides. */
const GENERIC_CONNECTION_ERROR = /Stream isn't writeable|Connection is closed/

function resolveClient (options: RedisStoreOptions): ResolvedClient {
  if (options.client !== undefined && options.url !== undefined) {
    throw new InvalidOptionError('redisStore: pass either client or url, not both')
  }
  if (options.client !== undefined) {
    return { client: options.client, owned: false, explain: (err) => err, notConnected: () => undefined }
  }
  if (typeof options.url !== 'string' || options.url === '') {
    throw new InvalidOptionError('redisStore: pass client (an ioredis instance) or url (e.g. "redis://127.0.0.1:6379")')
  }
  const where = describeUrl(options.url)
  const ioredis = requireDriver<typeof import('ioredis')>('ioredis', 'redisStore')
  const client = new ioredis.Redis(options.url, OWN_CLIENT_OPTIONS)
  // Failures surface through the commands that hit them; without a listener ioredis would print each one.
  let lastError = 'not connected'
  client.on('error', (err: Error) => { lastError = err.message })
  client.on('ready', () => { lastError = 'connection lost' })
  const unreachable = (reason: string) => `${where} is not reachable (${reason}); reconnecting in the background`
  return {
    client,
    owned: true,
    explain (err) {
      if (err instanceof ioredis.ReplyError || !(err instanceof Error)) return err
      const reason = GENERIC_CONNECTION_ERROR.test(err.message) ? lastError : err.message
      return new Error(unreachable(reason), { cause: err })
    },
    notConnected: () => client.status === 'ready' || client.status === 'wait' ? undefined : unreachable(lastError)
  }
}

/** Disconnect a client this store created, resolving once its socket is gone. */
async function endClient (client: Redis): Promise<void> {
  if (client.status === 'end') return
  if (client.status === 'wait' || client.status === 'reconnecting') {
    // No socket is open: this only cancels the pending reconnection (no 'end' event follows).
    client.disconnect()
    return
  }
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()))
  if (client.status === 'ready') {
    await client.quit().catch(() => client.disconnect())
  } else {
    client.disconnect()
  }
  await ended
}

export function redisStore (options: RedisStoreOptions): Store {
  const prefix = options.prefix ?? DEFAULT_REDIS_PREFIX
  if (typeof prefix !== 'string') throw new InvalidOptionError('redisStore: prefix must be a string')
  const { client, owned, explain, notConnected } = resolveClient(options)
  for (const [name, definition] of Object.entries(SCRIPTS)) client.defineCommand(name, definition)
  const redis = client as ScriptedRedis

  const keys = {
    first: `${prefix}first`,
    last: `${prefix}last`,
    leaseOwners: `${prefix}lease:owner`,
    leaseExpiry: `${prefix}lease:expiry`,
    runPrefix: `${prefix}run:`,
    runs: `${prefix}runs`,
    taskRuns: (task: string) => `${prefix}runs:task:${task}`
  }
  let closed = false

  /** One store call: fails at once while our own client is disconnected; every failure is the coded error. */
  async function call<T> (command: () => Promise<T>): Promise<T> {
    const problem = closed ? 'the Redis store is closed' : notConnected()
    if (problem !== undefined) throw storeUnavailable(new Error(problem))
    return await withStoreErrors(command, explain)
  }

  return {
    kind: 'redis',
    durable: true,

    async init () {
      if (owned && client.status === 'wait') await call(() => client.connect())
    },

    async close () {
      if (!owned || closed) return
      closed = true
      await endClient(client)
    },

    async ensureTasks (names, firstSeen) {
      const states = new Map<string, TaskState>()
      if (names.length === 0) return states
      const reply = await call(() => redis.fastifySchedulerEnsureTasks(keys.first, keys.last, firstSeen.getTime(), ...names)) as Array<string | null>
      names.forEach((name, i) => {
        const state: TaskState = { firstSeen: new Date(Number(reply[2 * i])) }
        const last = reply[2 * i + 1]
        if (last != null) state.lastOccurrence = new Date(Number(last))
        states.set(name, state)
      })
      return states
    },

    async claimOccurrence (task, occurrence) {
      return await call(() => redis.fastifySchedulerClaim(keys.first, keys.last, task, occurrence.getTime())) === 1
    },

    async acquireLease (key, owner, ttlMs, nowMs) {
      const [acquired, expiredOwner] = await call(() =>
        redis.fastifySchedulerAcquireLease(keys.leaseOwners, keys.leaseExpiry, key, owner, nowMs + ttlMs, nowMs)) as [number, string?]
      if (acquired !== 1) return { acquired: false }
      return expiredOwner === undefined ? { acquired: true } : { acquired: true, expiredOwner }
    },

    async renewLease (key, owner, ttlMs, nowMs) {
      return await call(() => redis.fastifySchedulerRenewLease(keys.leaseOwners, keys.leaseExpiry, key, owner, nowMs + ttlMs, nowMs)) === 1
    },

    async releaseLease (key, owner) {
      return await call(() => redis.fastifySchedulerReleaseLease(keys.leaseOwners, keys.leaseExpiry, key, owner)) === 1
    },

    async reapExpiredLeases (nowMs) {
      const flat = await call(() => redis.fastifySchedulerReapLeases(keys.leaseOwners, keys.leaseExpiry, nowMs)) as string[]
      const expired: ExpiredLease[] = []
      for (let i = 0; i < flat.length; i += 2) expired.push({ key: flat[i]!, owner: flat[i + 1]! })
      return expired
    },

    async recordRun (run, historyLimit) {
      await call(() => redis.fastifySchedulerRecordRun(
        keys.runPrefix + run.id, keys.taskRuns(run.task), keys.runs, keys.runPrefix,
        run.id, run.startedAt.getTime(), Math.max(0, Math.floor(historyLimit)), ...runToFields(run)))
    },

    async markAbandoned (runId, finishedAt) {
      return await call(() => redis.fastifySchedulerMarkAbandoned(keys.runPrefix + runId, finishedAt.getTime())) === 1
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

    async lastRuns (names) {
      const newest = new Map<string, RunRecord>()
      if (names.length === 0) return newest
      const rows = await call(() =>
        redis.fastifySchedulerLastRuns(1 + names.length, keys.runPrefix, ...names.map(keys.taskRuns))) as RunRow[]
      names.forEach((name, i) => { if (rows[i]!.length > 0) newest.set(name, runFromRow(rows[i]!)) })
      return newest
    }
  }
}
