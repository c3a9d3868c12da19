/**
 * The Redis store (ioredis). Every contract method that reads and then writes is ONE Lua
 * script, defined once per client with `defineCommand`, so Redis runs it atomically and a
 * call is one round trip. Lease expiry is compared to the caller's `nowMs` (passed in ARGV),
 * never to Redis's own clock. The design and fault model are in `docs/ARCHITECTURE.md`.
 *
 * Keys, all under `prefix` (default `fastify-scheduler:`):
 *   schema                  the layout version (2); v1 keys stay valid as they are
 *   first, last             hashes task -> firstSeen ms, task -> lastOccurrence ms
 *   retry                   hash task -> pending retry "of|attempt|at" (ms, n, ms)
 *   lease:owner             hash lease key -> owner (the run id)
 *   lease:expiry            sorted set of lease keys scored by expiresAt ms
 *   lease:token             the fencing counter: INCR on every lease taken, never reset
 *   tick                    the latest tick (ms); only moves forward
 *   run:<id>                hash of one run record (instants as ms strings; `forced` '1'/'0';
 *                           a v1 hash has no attempt/forced/instance: read as 1, false), plus
 *                           `leaseToken` while it runs
 *   runs, runs:task:<task>  sorted sets of run ids scored by startedAt ms; equal scores sort
 *                           by id, so a reverse range is "newest first, then id descending"
 *
 * The scripts:
 *   startRun       checks the task state (missing row or occurrence before firstSeen: stale;
 *                  lastOccurrence >= occurrence or the retry no longer pending: claimed),
 *                  makes the claim, then checks the lease: live -> a `skipped` record;
 *                  free or expired -> the expired owner's `running` hash is set abandoned,
 *                  the lease is taken, the token INCRed, the `running` record written (with
 *                  its token, so that the same start sent again answers `started` with it
 *                  instead of `claimed`). The task's history is pruned in the same script.
 *   finishRun      the final record unless a settled status is stored, the lease released
 *                  if the run holds it, the pending retry set, the history pruned.
 *   abandonExpired every lease expired at nowMs removed, its owner's `running` hash flipped.
 *   renewLease, releaseLease, scheduleRetry, heartbeat, ensureTasks, listRuns, recentRuns.
 * Scripts that reach run hashes get the `run:` prefix as a key, so a client `keyPrefix`
 * applies to them too. On Redis Cluster, give a prefix with a hash tag (`{scheduler}:`) so
 * that every key lives in one slot.
 *
 * Faults: a client the store creates fails fast (no offline queue, a command timeout, no
 * command resent after a reconnect: a script that ran but whose reply was lost must not run
 * a second time behind the caller's back) and reconnects in the background. A client the
 * user passes in is used as configured: the store adds no listener and changes no option.
 */
import type { Redis } from 'ioredis'
import { InvalidOptionError, storeUnavailable } from '../errors.js'
import { RUN_FIELDS, requireDriver, runFromStored, runToStored, withStoreErrors, type StoredRun } from './driver.js'
import { pageOfRuns, SETTLED_STATUSES, TAKEOVER_REASON } from './history.js'
import type { PendingRetry, RunRecord, StartRunResult, Store, StoreInitContext, TaskRetry, TaskState } from './store.js'

export interface RedisStoreOptions {
  /** A client you manage: the store defines its scripts on it and never closes it. */
  client?: Redis
  /** Or a URL the store connects to (and disconnects from on close). */
  url?: string
  /** Prefix of every key, default `fastify-scheduler:`. */
  prefix?: string
  /**
   * With `url`: how long one command may take before it fails (ms), default 5000. A frozen
   * or unreachable server then gives the coded error within this time. (With `client`, set
   * `commandTimeout` on your client.)
   */
  timeout?: number
}

export const DEFAULT_REDIS_PREFIX = 'fastify-scheduler:'
export const DEFAULT_REDIS_TIMEOUT_MS = 5000

/** The key layout this code writes; v1 (no schema key) needs no change to be read. */
const SCHEMA_VERSION = 2

/** Options of a client the store creates: fail fast while Redis is down, reconnect in the background. */
function ownClientOptions (timeout: number) {
  return {
    lazyConnect: true,
    // While disconnected, calls fail at once instead of waiting in a queue.
    enableOfflineQueue: false,
    // A command in flight when the connection drops is rejected at once (0 retries) and never
    // resent after the reconnect: the caller has already been told it failed.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: Math.min(timeout, 2000),
    commandTimeout: timeout,
    retryStrategy: (attempt: number) => Math.min(attempt * 200, 2000)
  }
}

/** Lua: the stored fields of a run in RUN_FIELDS order; HMGET gives false for absent ones. */
const HMGET_FIELDS = RUN_FIELDS.map((f) => `'${f}'`).join(', ')

/**
 * Lua helpers shared by the scripts: read, write, prune and abandon run hashes. `runPrefix`
 * is the `run:` key prefix, `taskRuns` / `allRuns` the two sorted sets.
 */
const RUN_LUA = `
local settled = { ${SETTLED_STATUSES.map((s) => `['${s}'] = true`).join(', ')} }
local function readRun (runPrefix, id)
  local row = redis.call('HMGET', runPrefix .. id, ${HMGET_FIELDS})
  if not row[1] then return nil end
  return row
end
local function writeRun (runPrefix, taskRuns, allRuns, id, startedAt, fields)
  redis.call('DEL', runPrefix .. id)
  redis.call('HSET', runPrefix .. id, unpack(fields))
  redis.call('ZADD', taskRuns, startedAt, id)
  redis.call('ZADD', allRuns, startedAt, id)
end
local function prune (runPrefix, taskRuns, allRuns, historyLimit)
  for _, id in ipairs(redis.call('ZREVRANGE', taskRuns, historyLimit, -1)) do
    if redis.call('HGET', runPrefix .. id, 'status') ~= 'running' then
      redis.call('DEL', runPrefix .. id)
      redis.call('ZREM', taskRuns, id)
      redis.call('ZREM', allRuns, id)
    end
  end
end
local function abandon (runPrefix, id, now, reason)
  local run = redis.call('HMGET', runPrefix .. id, 'status', 'startedAt')
  if run[1] ~= 'running' then return false end
  local duration = math.max(0, tonumber(now) - tonumber(run[2]))
  redis.call('HSET', runPrefix .. id, 'status', 'abandoned', 'finishedAt', now,
    'durationMs', string.format('%.0f', duration), 'error', reason)
  return true
end
`

const SCRIPTS = {
  // KEYS schema; ARGV version -> the version stored before (0: none), raised to ARGV[1]
  fastifySchedulerInit: {
    numberOfKeys: 1,
    lua: `
local stored = tonumber(redis.call('GET', KEYS[1]) or '0')
if stored < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return stored`
  },
  // KEYS first, last, retry; ARGV firstSeen, names... -> { firstSeen, last|nil, retry|nil, ... }
  fastifySchedulerEnsureTasks: {
    numberOfKeys: 3,
    lua: `
local out = {}
for i = 2, #ARGV do
  redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[1])
  out[#out + 1] = redis.call('HGET', KEYS[1], ARGV[i])
  out[#out + 1] = redis.call('HGET', KEYS[2], ARGV[i])
  out[#out + 1] = redis.call('HGET', KEYS[3], ARGV[i])
end
return out`
  },
  // KEYS first, last, retry, lease owners, lease expiry, token, run prefix, task runs, all runs
  // ARGV claim, task, scheduledFor, attempt, leaseKey|'', expiresAt, now, historyLimit, id,
  //      startedAt, takeover reason, field, value, ...
  // -> { 'stale' } | { 'claimed' } | { 'recorded' } | { 'overlap', holder } | { 'started', token, abandoned? }
  fastifySchedulerStartRun: {
    numberOfKeys: 9,
    lua: RUN_LUA + `
-- The same start again (a command resent after its reply was lost): answer what it got.
local mine = redis.call('HMGET', KEYS[7] .. ARGV[9], 'status', 'leaseToken')
if mine[1] == 'running' and mine[2] and redis.call('HGET', KEYS[4], ARGV[5]) == ARGV[9] then
  return { 'started', tonumber(mine[2]) }
end
local claim, task, at = ARGV[1], ARGV[2], tonumber(ARGV[3])
if claim == 'occurrence' then
  local first = redis.call('HGET', KEYS[1], task)
  if not first or at < tonumber(first) then return { 'stale' } end
  local last = redis.call('HGET', KEYS[2], task)
  if last and tonumber(last) >= at then return { 'claimed' } end
elseif claim == 'retry' then
  if redis.call('HEXISTS', KEYS[1], task) == 0 then return { 'stale' } end
  local pending = redis.call('HGET', KEYS[3], task)
  if not pending then return { 'claimed' } end
  local of, attempt = string.match(pending, '^([^|]*)|([^|]*)|')
  if tonumber(of) ~= at or tonumber(attempt) ~= tonumber(ARGV[4]) then return { 'claimed' } end
end
-- The claim is made whatever happens next: an occurrence skipped for overlap is spent.
if claim == 'occurrence' then
  redis.call('HSET', KEYS[2], task, ARGV[3])
  redis.call('HDEL', KEYS[3], task)
elseif claim == 'retry' then
  redis.call('HDEL', KEYS[3], task)
end
local id, leaseKey, limit = ARGV[9], ARGV[5], tonumber(ARGV[8])
-- The record's fields; HSET lets a later pair override an earlier one of the same field.
local fields = { unpack(ARGV, 12) }
local function record (...)
  for _, value in ipairs({ ... }) do fields[#fields + 1] = value end
  writeRun(KEYS[7], KEYS[8], KEYS[9], id, ARGV[10], fields)
  prune(KEYS[7], KEYS[8], KEYS[9], limit)
end
if leaseKey == '' then
  record()
  return { 'recorded' }
end
local holder = redis.call('HGET', KEYS[4], leaseKey)
if holder then
  local expiresAt = tonumber(redis.call('ZSCORE', KEYS[5], leaseKey))
  if expiresAt and expiresAt > tonumber(ARGV[7]) then
    record('status', 'skipped', 'finishedAt', ARGV[10], 'durationMs', '0', 'error', 'overlap')
    return { 'overlap', holder }
  end
end
local abandoned = holder and abandon(KEYS[7], holder, ARGV[7], ARGV[11])
redis.call('HSET', KEYS[4], leaseKey, id)
redis.call('ZADD', KEYS[5], ARGV[6], leaseKey)
local token = redis.call('INCR', KEYS[6])
record('leaseToken', token)
if abandoned then return { 'started', token, holder } end
return { 'started', token }`
  },
  // KEYS owners, expiry; ARGV key, owner, expiresAt -> 1 renewed, 0 not held
  // An owner still named by the lease re-takes it, expired or not: nobody else took it.
  fastifySchedulerRenewLease: {
    numberOfKeys: 2,
    lua: `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
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
  // KEYS first, retry, lease owners, lease expiry, run prefix, task runs, all runs
  // ARGV id, task, startedAt, historyLimit, leaseKey|'', retry|'', field, value, ...
  fastifySchedulerFinishRun: {
    numberOfKeys: 7,
    lua: RUN_LUA + `
local id, task = ARGV[1], ARGV[2]
local status = redis.call('HGET', KEYS[5] .. id, 'status')
if not status or not settled[status] then
  writeRun(KEYS[5], KEYS[6], KEYS[7], id, ARGV[3], { unpack(ARGV, 7) })
  prune(KEYS[5], KEYS[6], KEYS[7], tonumber(ARGV[4]))
end
if ARGV[5] ~= '' and redis.call('HGET', KEYS[3], ARGV[5]) == id then
  redis.call('HDEL', KEYS[3], ARGV[5])
  redis.call('ZREM', KEYS[4], ARGV[5])
end
if ARGV[6] ~= '' and redis.call('HEXISTS', KEYS[1], task) == 1 then
  redis.call('HSET', KEYS[2], task, ARGV[6])
end
return 1`
  },
  // KEYS owners, expiry, run prefix; ARGV now, reason -> { row, row, ... } of the runs abandoned
  fastifySchedulerAbandonExpired: {
    numberOfKeys: 3,
    lua: RUN_LUA + `
local out = {}
for _, key in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])) do
  local owner = redis.call('HGET', KEYS[1], key)
  redis.call('HDEL', KEYS[1], key)
  redis.call('ZREM', KEYS[2], key)
  if owner and abandon(KEYS[3], owner, ARGV[1], ARGV[2]) then out[#out + 1] = readRun(KEYS[3], owner) end
end
return out`
  },
  // KEYS first, retry; ARGV task, retry -> 1 set, 0 no such task
  fastifySchedulerScheduleRetry: {
    numberOfKeys: 2,
    lua: `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1`
  },
  // KEYS tick, retry; ARGV at|'' -> { lastTick|nil, { task, retry, task, retry, ... } }
  fastifySchedulerHeartbeat: {
    numberOfKeys: 2,
    lua: `
local last = redis.call('GET', KEYS[1])
if ARGV[1] ~= '' and (not last or tonumber(ARGV[1]) > tonumber(last)) then
  redis.call('SET', KEYS[1], ARGV[1])
  last = ARGV[1]
end
return { last, redis.call('HGETALL', KEYS[2]) }`
  },
  // KEYS all runs, run prefix; ARGV offset, limit, taskCount, tasks..., statuses...
  // -> { total, row, row, ... }. Without filters it pages the sorted set directly; with
  // filters it walks it newest first (history is bounded by historyLimit per task).
  fastifySchedulerListRuns: {
    numberOfKeys: 2,
    lua: RUN_LUA + `
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
  // KEYS run prefix, task runs...; ARGV limit -> { { row, ... }, ... } in KEYS order
  fastifySchedulerRecentRuns: {
    lua: RUN_LUA + `
local out, limit = {}, tonumber(ARGV[1])
for i = 2, #KEYS do
  local rows = {}
  if limit > 0 then
    for _, id in ipairs(redis.call('ZREVRANGE', KEYS[i], 0, limit - 1)) do
      local row = readRun(KEYS[1], id)
      if row then rows[#rows + 1] = row end
    end
  end
  out[#out + 1] = rows
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
const GENERIC_CONNECTION_ERROR = /Stream isn't writeable|Connection is closed|max retries per request/

function resolveClient (options: RedisStoreOptions): ResolvedClient {
  if (options.client !== undefined && options.url !== undefined) {
    throw new InvalidOptionError('redisStore: pass either client or url, not both')
  }
  if (options.client !== undefined) {
    if (options.timeout !== undefined) {
      throw new InvalidOptionError('redisStore: timeout applies to the client the store creates from url; set commandTimeout on your own client')
    }
    return { client: options.client, owned: false, explain: (err) => err, notConnected: () => undefined }
  }
  if (typeof options.url !== 'string' || options.url === '') {
    throw new InvalidOptionError('redisStore: pass client (an ioredis instance) or url (e.g. "redis://127.0.0.1:6379")')
  }
  const timeout = options.timeout ?? DEFAULT_REDIS_TIMEOUT_MS
  if (!Number.isInteger(timeout) || timeout <= 0 || timeout > 2 ** 31 - 1) {
    throw new InvalidOptionError(`redisStore: timeout must be a whole number of milliseconds between 1 and ${2 ** 31 - 1}, got ${String(timeout)}`)
  }
  const where = describeUrl(options.url)
  const ioredis = requireDriver<typeof import('ioredis')>('ioredis', 'redisStore')
  const client = new ioredis.Redis(options.url, ownClientOptions(timeout))
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

/** What boot says when the server would lose everything on a restart. */
export const REDIS_NOT_PERSISTENT = 'Redis keeps nothing on disk (neither AOF, appendonly yes, nor RDB snapshots, save): ' +
  'a restart empties it, losing every claim, lease and run record. No occurrence runs twice because of it (a task whose ' +
  'state vanished counts as first seen at that moment), but the history and the leases of running tasks are gone. ' +
  'Turn on appendonly or save to keep them.'

/**
 * The server's persistence, as `{ appendonly, save }`, or undefined when it cannot be read
 * (CONFIG refused or renamed, as on many managed services; a failure; no answer within
 * `withinMs`). Never rejects.
 */
async function persistence (client: Redis, withinMs: number): Promise<{ appendonly: string, save: string } | undefined> {
  const read = async () => {
    const [appendonly, save] = await Promise.all([client.config('GET', 'appendonly'), client.config('GET', 'save')]) as [string[], string[]]
    if (appendonly.length < 2 || save.length < 2) return undefined
    return { appendonly: String(appendonly[1]), save: String(save[1]) }
  }
  let timer: NodeJS.Timeout | undefined
  const gaveUp = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), withinMs) })
  try {
    return await Promise.race([read().catch(() => undefined), gaveUp])
  } finally {
    clearTimeout(timer)
  }
}

export function redisStore (options: RedisStoreOptions): Store {
  const prefix = options.prefix ?? DEFAULT_REDIS_PREFIX
  if (typeof prefix !== 'string') throw new InvalidOptionError('redisStore: prefix must be a string')
  const { client, owned, explain, notConnected } = resolveClient(options)
  for (const [name, definition] of Object.entries(SCRIPTS)) client.defineCommand(name, definition)
  const redis = client as ScriptedRedis

  const keys = {
    schema: `${prefix}schema`,
    first: `${prefix}first`,
    last: `${prefix}last`,
    retry: `${prefix}retry`,
    leaseOwners: `${prefix}lease:owner`,
    leaseExpiry: `${prefix}lease:expiry`,
    leaseToken: `${prefix}lease:token`,
    tick: `${prefix}tick`,
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

  /** Once per store, after the first successful init: warn when a restart would lose everything. */
  async function warnIfNotPersistent (context: StoreInitContext | undefined): Promise<void> {
    if (checkedPersistence || context === undefined) return
    checkedPersistence = true
    const config = await persistence(client, options.timeout ?? DEFAULT_REDIS_TIMEOUT_MS)
    if (config !== undefined && config.appendonly !== 'yes' && config.save.trim() === '') {
      context.log.warn({ store: 'redis', appendonly: config.appendonly, save: config.save }, REDIS_NOT_PERSISTENT)
    }
  }

  return {
    kind: 'redis',
    durable: true,

    async init (context) {
      if (owned && client.status === 'wait') await call(() => client.connect())
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
      await endClient(client)
    },

    async ensureTasks (names, firstSeen) {
      const states = new Map<string, TaskState>()
      if (names.length === 0) return states
      const reply = await call(() =>
        redis.fastifySchedulerEnsureTasks(keys.first, keys.last, keys.retry, firstSeen.getTime(), ...names)) as Array<string | null>
      names.forEach((name, i) => {
        const [first, last, retry] = reply.slice(3 * i, 3 * i + 3)
        const state: TaskState = { firstSeen: new Date(Number(first)) }
        if (last != null) state.lastOccurrence = new Date(Number(last))
        if (retry != null) state.retry = retryFromField(retry)
        states.set(name, state)
      })
      return states
    },

    async startRun ({ run, claim, lease, historyLimit }): Promise<StartRunResult> {
      const reply = await call(() => redis.fastifySchedulerStartRun(
        keys.first, keys.last, keys.retry, keys.leaseOwners, keys.leaseExpiry, keys.leaseToken,
        keys.runPrefix, keys.taskRuns(run.task), keys.runs,
        claim, run.task, run.scheduledFor.getTime(), run.attempt,
        lease?.key ?? '', lease === undefined ? 0 : lease.nowMs + lease.ttlMs, lease?.nowMs ?? 0,
        Math.max(0, Math.floor(historyLimit)), run.id, run.startedAt.getTime(), TAKEOVER_REASON,
        ...runToFields(run))) as [string, (string | number)?, string?]
      const [outcome, detail, abandoned] = reply
      switch (outcome) {
        case 'started':
          return abandoned === undefined
            ? { outcome, leaseToken: Number(detail) }
            : { outcome, leaseToken: Number(detail), abandoned }
        case 'overlap':
          return { outcome, holder: String(detail) }
        case 'recorded': case 'claimed': case 'stale':
          return { outcome }
        default:
          throw storeUnavailable(new Error(`unexpected startRun reply from Redis: ${JSON.stringify(reply)}`))
      }
    },

    async renewLease (key, owner, ttlMs, nowMs) {
      return await call(() => redis.fastifySchedulerRenewLease(keys.leaseOwners, keys.leaseExpiry, key, owner, nowMs + ttlMs)) === 1
    },

    async releaseLease (key, owner) {
      return await call(() => redis.fastifySchedulerReleaseLease(keys.leaseOwners, keys.leaseExpiry, key, owner)) === 1
    },

    async finishRun (run, { leaseKey, historyLimit, retry }) {
      await call(() => redis.fastifySchedulerFinishRun(
        keys.first, keys.retry, keys.leaseOwners, keys.leaseExpiry, keys.runPrefix, keys.taskRuns(run.task), keys.runs,
        run.id, run.task, run.startedAt.getTime(), Math.max(0, Math.floor(historyLimit)),
        leaseKey ?? '', retry === undefined ? '' : retryToField(retry), ...runToFields(run)))
    },

    async abandonExpired (nowMs, reason) {
      const rows = await call(() =>
        redis.fastifySchedulerAbandonExpired(keys.leaseOwners, keys.leaseExpiry, keys.runPrefix, nowMs, reason)) as RunRow[]
      return rows.map(runFromRow)
    },

    async scheduleRetry (task, retry) {
      await call(() => redis.fastifySchedulerScheduleRetry(keys.first, keys.retry, task, retryToField(retry)))
    },

    async heartbeat (tick) {
      const [last, flat] = await call(() =>
        redis.fastifySchedulerHeartbeat(keys.tick, keys.retry, tick === undefined ? '' : tick.at.getTime())) as [string | null, string[]]
      const retries: TaskRetry[] = []
      for (let i = 0; i < flat.length; i += 2) retries.push({ task: flat[i]!, ...retryFromField(flat[i + 1]!) })
      return last == null ? { retries } : { lastTick: new Date(Number(last)), retries }
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
