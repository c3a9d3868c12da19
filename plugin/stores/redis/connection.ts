/**
 * The Redis store's connection handling: the options of a client it creates (fail fast,
 * replace a dead connection, reconnect in the background), the checks of a client the user
 * passes in (a Cluster needs a hash-tag prefix), and the optional replica acknowledgement
 * (`WAIT`) after every claiming script. The fault model is `docs/ARCHITECTURE.md#the-fault-model`.
 */
import { withDeadline } from '../../../core/deadline.js'
import type { Cluster, Redis } from 'ioredis'
import { parseTimerDuration } from '../../../tasks/duration.js'
import { InvalidOptionError, isSchedulerError, storeUnavailable } from '../../../core/errors.js'
import { requireDriver } from '../driver.js'

/** A client the store runs its scripts on: a single node or a Cluster. */
export type Client = Redis | Cluster

export interface RedisStoreOptions {
  /** A client you manage (an ioredis `Redis` or `Cluster`): the store defines its scripts on it and never closes it. */
  client?: Client
  /** Or a URL the store connects to (and disconnects from on close). */
  url?: string
  /** Prefix of every key, default `fastify-scheduler:`. On Redis Cluster it must hold a hash tag (`{scheduler}:`). */
  prefix?: string
  /**
   * With `url`: how long one command may take before it fails (ms or a duration string such
   * as `'5 seconds'`), default 5000. A frozen or unreachable server then gives the coded
   * error within this time, and a connection that stays silent this long is replaced. (With
   * `client`, set `commandTimeout` and `socketTimeout` on your client.)
   */
  timeout?: number | string
  /**
   * Count a claim only once this many replicas acknowledged it: `WAIT` follows every
   * claiming script in the same round trip, and fewer acknowledgements fail the call with
   * the coded store-unavailable error. Off by default.
   */
  waitReplicas?: number
  /** How long `WAIT` waits for `waitReplicas` (ms or a duration string), default 1000. */
  waitTimeout?: number | string
}

export const DEFAULT_REDIS_PREFIX = 'fastify-scheduler:'
export const DEFAULT_REDIS_TIMEOUT_MS = 5000
export const DEFAULT_WAIT_TIMEOUT_MS = 1000

/** A duration option in whole milliseconds (>= 1), or the coded error naming it. */
function durationOption (value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback
  let ms: number
  try {
    ms = parseTimerDuration(value, `redisStore: ${name}`)
  } catch (err) {
    throw new InvalidOptionError((err as Error).message)
  }
  if (!Number.isInteger(ms) || ms < 1) {
    throw new InvalidOptionError(`redisStore: ${name} must be a whole number of milliseconds of at least 1 (or a duration such as '5 seconds'), got ${String(value)}`)
  }
  return ms
}

/** The replica acknowledgement asked for, if any. */
export interface WaitOption { replicas: number, timeoutMs: number }

/** `waitReplicas` / `waitTimeout` read and checked; undefined when no acknowledgement is asked. */
function waitOption (options: RedisStoreOptions, commandTimeoutMs: number | undefined): WaitOption | undefined {
  const { waitReplicas } = options
  if (waitReplicas === undefined) {
    if (options.waitTimeout !== undefined) throw new InvalidOptionError('redisStore: waitTimeout needs waitReplicas (the number of replicas to wait for)')
    return undefined
  }
  if (!Number.isInteger(waitReplicas) || waitReplicas < 1) {
    throw new InvalidOptionError(`redisStore: waitReplicas must be a whole number of replicas of at least 1, got ${String(waitReplicas)}`)
  }
  const timeoutMs = durationOption(options.waitTimeout, 'waitTimeout', DEFAULT_WAIT_TIMEOUT_MS)
  if (commandTimeoutMs !== undefined && timeoutMs >= commandTimeoutMs) {
    throw new InvalidOptionError(`redisStore: waitTimeout (${timeoutMs} ms) must be shorter than timeout (${commandTimeoutMs} ms), or every claim would time out first`)
  }
  return { replicas: waitReplicas, timeoutMs }
}

/** Why a short `WAIT` reply fails a claim. */
export function notAcknowledged (wait: WaitOption, acknowledged: number): Error {
  return storeUnavailable(new Error(`claim not acknowledged by ${wait.replicas} replica${wait.replicas === 1 ? '' : 's'} ` +
    `within ${wait.timeoutMs} ms (${acknowledged} acknowledged)`))
}

/**
 * True when `prefix` (after the client's own `keyPrefix`) names a hash tag, so that every
 * key of the store hashes to one Cluster slot and the scripts may touch them together.
 */
function hasHashTag (prefix: string): boolean {
  const open = prefix.indexOf('{')
  if (open === -1) return false
  const close = prefix.indexOf('}', open + 1)
  return close > open + 1
}

/** A Cluster client's own key prefix (ioredis keeps it in the options, or in the nodes' options). */
function clientKeyPrefix (client: Client): string {
  const options = (client as { options?: { keyPrefix?: string, redisOptions?: { keyPrefix?: string } } }).options
  return options?.keyPrefix ?? options?.redisOptions?.keyPrefix ?? ''
}

/** Refuse a prefix that spreads the store's keys over several slots of a Redis Cluster: every script would fail CROSSSLOT. */
function checkClusterPrefix (client: Client, prefix: string): void {
  if ((client as { isCluster?: boolean }).isCluster !== true) return
  if (hasHashTag(clientKeyPrefix(client) + prefix)) return
  const tag = prefix.replace(/[{}]/g, '').replace(/:+$/, '') || 'fastify-scheduler'
  throw new InvalidOptionError(`redisStore: prefix ${JSON.stringify(prefix)} spreads keys over slots on Redis Cluster; ` +
    `use a hash tag, e.g. ${JSON.stringify(`{${tag}}:`)}`)
}

/**
 * Options of a client the store creates: fail fast while Redis is down, replace a dead
 * connection, reconnect in the background.
 */
function ownClientOptions (timeout: number) {
  return {
    lazyConnect: true,
    // While disconnected, calls fail at once instead of waiting in a queue.
    enableOfflineQueue: false,
    // A command in flight when the connection drops is rejected at once (0 retries) and never
    // resent after the reconnect: the caller has already been told it failed, and a script
    // that ran but whose reply was lost must not run a second time behind its back.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: Math.min(timeout, 2000),
    commandTimeout: timeout,
    // A connection that answers nothing for `timeout` while a command waits is dead (a host
    // black-holed: no RST, so the kernel would keep the socket for ~15 minutes): destroy it
    // and reconnect, so that a healed or repointed host is used at the next call.
    socketTimeout: timeout,
    // An idle connection is probed sooner than ioredis's 30 s (the kernel's probe count and
    // interval decide when it gives up; socketTimeout is what bounds a call).
    keepAlive: Math.min(timeout, 10_000),
    retryStrategy: (attempt: number) => Math.min(attempt * 200, 2000)
  }
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

export interface ResolvedClient {
  client: Client
  /** True when the store created the client, and so must close it. */
  owned: boolean
  /** The command timeout of a client the store created (undefined for the user's). */
  timeoutMs: number | undefined
  /** The replica acknowledgement asked for (`waitReplicas`), if any. */
  wait: WaitOption | undefined
  /** Why a call failed, said plainly (ioredis says "Stream isn't writeable and enableOfflineQueue options is false"). */
  explain: (err: unknown) => unknown
  /** Why our own client cannot take commands right now, if it cannot: then calls fail at once. */
  notConnected: () => string | undefined
}

/** ioredis's generic words for "no connection", behind which the real cause hides. */
const GENERIC_CONNECTION_ERROR = /Stream isn't writeable|Connection is closed|max retries per request/

/** The client to use: the user's (checked, left as configured) or one created from `url`. */
export function resolveClient (options: RedisStoreOptions, prefix: string): ResolvedClient {
  if (options.client !== undefined && options.url !== undefined) {
    throw new InvalidOptionError('redisStore: pass either client or url, not both')
  }
  if (options.client !== undefined) {
    if (options.timeout !== undefined) {
      throw new InvalidOptionError('redisStore: timeout applies to the client the store creates from url; set commandTimeout on your own client')
    }
    checkClusterPrefix(options.client, prefix)
    const wait = waitOption(options, undefined)
    return { client: options.client, owned: false, timeoutMs: undefined, wait, explain: (err) => err, notConnected: () => undefined }
  }
  if (typeof options.url !== 'string' || options.url === '') {
    throw new InvalidOptionError('redisStore: pass client (an ioredis instance) or url (e.g. "redis://127.0.0.1:6379")')
  }
  const timeout = durationOption(options.timeout, 'timeout', DEFAULT_REDIS_TIMEOUT_MS)
  const wait = waitOption(options, timeout)
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
    timeoutMs: timeout,
    wait,
    explain (err) {
      // An error already coded (a claim not acknowledged, say) passes through as it is.
      if (err instanceof ioredis.ReplyError || !(err instanceof Error) || isSchedulerError(err)) return err
      const reason = GENERIC_CONNECTION_ERROR.test(err.message) ? lastError : err.message
      return new Error(unreachable(reason), { cause: err })
    },
    notConnected: () => client.status === 'ready' || client.status === 'wait' ? undefined : unreachable(lastError)
  }
}

/** Disconnect a client this store created, resolving once its socket is gone. */
export async function endClient (client: Redis): Promise<void> {
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
export async function persistence (client: Client, withinMs: number): Promise<{ appendonly: string, save: string } | undefined> {
  const read = async () => {
    const [appendonly, save] = await Promise.all([client.config('GET', 'appendonly'), client.config('GET', 'save')]) as [string[], string[]]
    if (appendonly.length < 2 || save.length < 2) return undefined
    return { appendonly: String(appendonly[1]), save: String(save[1]) }
  }
  return await withDeadline(() => read().catch(() => undefined), withinMs, { onTimeout: () => undefined })
}
