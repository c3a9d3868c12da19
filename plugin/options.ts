/**
 * Plugin options, resolved once at registration (docs/ARCHITECTURE.md#options). Anything wrong fails the boot
 * with an `FST_SCHEDULER_INVALID_OPTION` error naming the option and what is accepted;
 * nothing falls back to a default silently.
 */
import { resolve } from 'node:path'
import Type from 'typebox'
import Value from 'typebox/value'
import { describeValue, parseTimerDuration } from '../tasks/duration.js'
import { readOverlapPolicy, readPauseOnFailure, readRetries } from '../tasks/resolve.js'
import type { OverlapPolicy } from '../tasks/types.js'
import { InvalidOptionError } from '../core/errors.js'
import { suggest } from '../core/suggest.js'
import { canonicalZoneName } from '../tasks/zone.js'
import type { Registry } from 'prom-client'
import { DEFAULT_OUTPUT_BYTES } from './run-output.js'
import { whyNotAStore, type Store } from './stores/store.js'
import type { AuthOption, SchedulerOptions, TaskInput } from './types.js'

/** The scalar shape of the options; functions and objects are checked by hand below. */
const OptionsSchema = Type.Object({
  dir: Type.Optional(Type.Union([Type.String({ minLength: 1 }), Type.Literal(false)])),
  tasks: Type.Optional(Type.Array(Type.Unknown())),
  store: Type.Optional(Type.Unknown()),
  timezone: Type.Optional(Type.String({ minLength: 1 })),
  prefix: Type.Optional(Type.String({ pattern: '^/' })),
  routes: Type.Optional(Type.Boolean()),
  auth: Type.Optional(Type.Unknown()),
  allowQueryToken: Type.Optional(Type.Boolean()),
  allowGetTrigger: Type.Optional(Type.Boolean()),
  maxWait: Type.Optional(Type.Unknown()), // a duration: checked by parseDuration
  expectTickEvery: Type.Optional(Type.Unknown()), // a duration: checked by parseDuration
  historyLimit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
  leaseTime: Type.Optional(Type.Unknown()), // a duration: checked by parseDuration
  closeGracePeriod: Type.Optional(Type.Unknown()), // a duration: checked by parseDuration
  clock: Type.Optional(Type.Unknown()),
  retries: Type.Optional(Type.Unknown()), // checked by readRetries
  overlap: Type.Optional(Type.Unknown()), // checked by readOverlapPolicy
  pauseOnFailure: Type.Optional(Type.Unknown()), // checked by readPauseOnFailure
  storeTimeout: Type.Optional(Type.Unknown()), // a duration: checked by parseDuration
  maxClockSkew: Type.Optional(Type.Unknown()), // a duration or false: checked below
  lateResultGrace: Type.Optional(Type.Unknown()), // a duration: checked by parseDuration
  ui: Type.Optional(Type.Boolean()),
  metrics: Type.Optional(Type.Unknown()), // boolean or { auth, registry }: checked by readMetrics
  tracing: Type.Optional(Type.Boolean()),
  runOutput: Type.Optional(Type.Unknown()), // false or { maxBytes }: checked by readRunOutput
  failingTasksUnhealthy: Type.Optional(Type.Boolean()),
  maxPayloadSize: Type.Optional(Type.Integer({ minimum: 2, maximum: 1_048_576 })),
  maxBackfill: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
  // Keys Fastify itself may pass through register()
  logLevel: Type.Optional(Type.Unknown()),
  logSerializers: Type.Optional(Type.Unknown())
}, { additionalProperties: false })

/** Default `maxPayloadSize`: 16 KiB of JSON. */
export const DEFAULT_MAX_PAYLOAD_SIZE = 16 * 1024

/** Default `maxBackfill`: occurrences one backfill may hold (docs/PAYLOADS.md#backfills). */
export const DEFAULT_MAX_BACKFILL = 1000

const OPTION_NAMES = Object.keys(OptionsSchema.properties)

/** Options with every default applied and every duration in milliseconds. */
export interface ResolvedOptions {
  /** Absolute tasks folder, or false. */
  dir: string | false
  /** Whether the folder was named by the user (a missing named folder fails the boot). */
  dirExplicit: boolean
  tasks: TaskInput[]
  store: Store | undefined
  timezone: string | undefined
  /** The route prefix, or false when routes are off. */
  prefix: string | false
  auth: AuthOption | undefined
  allowQueryToken: boolean
  allowGetTrigger: boolean
  maxWaitMs: number
  expectTickEveryMs: number
  historyLimit: number
  leaseMs: number
  closeGraceMs: number
  clock: () => number
  retries: { attempts: number, delayMs: number } | undefined
  /** The overlap policy of tasks that set none (docs/OVERLAP.md). */
  overlap: OverlapPolicy
  /** Failures in a row that pause a task that sets none of its own; undefined: never. */
  pauseOnFailure: number | undefined
  storeTimeoutMs: number
  /** Refuse to claim beyond this offset from the store's clock; false: never measured. */
  maxClockSkewMs: number | false
  /** An abandoned run's retry waits at least this long for a late result. */
  lateResultGraceMs: number
  /** Serve the dashboard page at `<prefix>/ui` (only where routes are on). */
  ui: boolean
  /** Keep each run's logged lines with its record, up to `maxBytes`; false: not kept. */
  runOutput: false | { maxBytes: number }
  /** Health answers 503 while a task is failing. */
  failingTasksUnhealthy: boolean
  /** The metrics route and families, or false. */
  metrics: false | { auth: boolean, registry: Registry | undefined }
  /** true: required; false: off; 'auto': on when `@opentelemetry/api` resolves. */
  tracing: boolean | 'auto'
  /** Largest payload of a forced run, in bytes of JSON. */
  maxPayloadSize: number
  /** Most occurrences one backfill may hold. */
  maxBackfill: number
}

/** The `metrics` option: a boolean, or `{ auth?: boolean, registry?: Registry }`. */
function readMetrics (value: unknown): ResolvedOptions['metrics'] {
  if (value === undefined || value === true) return { auth: true, registry: undefined }
  if (value === false) return false
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail(`metrics: must be a boolean or { auth?: boolean, registry?: Registry } (got ${describeValue(value)})`)
  }
  const { auth, registry, ...rest } = value as Record<string, unknown>
  const unknown = Object.keys(rest)[0]
  if (unknown !== undefined) fail(`metrics.${unknown}: unknown key (accepted: auth, registry)`)
  if (auth !== undefined && typeof auth !== 'boolean') fail(`metrics.auth: must be a boolean (got ${describeValue(auth)})`)
  if (registry !== undefined && (typeof registry !== 'object' || registry === null ||
    typeof (registry as Registry).registerMetric !== 'function' || typeof (registry as Registry).metrics !== 'function')) {
    fail(`metrics.registry: must be a prom-client Registry (got ${describeValue(registry)})`)
  }
  return { auth: auth ?? true, registry: registry as Registry | undefined }
}

function fail (message: string): never {
  throw new InvalidOptionError(message)
}

function firstSchemaError (options: object): string | undefined {
  const unknown = Object.keys(options).find(key => !OPTION_NAMES.includes(key))
  if (unknown !== undefined) {
    const guess = suggest(unknown, OPTION_NAMES)
    return `unknown option "${unknown}"${guess !== undefined ? ` — did you mean "${guess}"?` : ''} (accepted: ${OPTION_NAMES.slice(0, -2).join(', ')})`
  }
  const [error] = Value.Errors(OptionsSchema, options)
  if (error === undefined) return undefined
  const field = error.instancePath.replace(/^\//, '').replace(/\//g, '.')
  const value = (options as Record<string, unknown>)[field.split('.')[0]]
  return `${field}: ${error.message} (got ${describeValue(value)})`
}

function duration (value: unknown, field: string, fallback: number): number {
  if (value === undefined) return fallback
  try {
    // Every duration here becomes a timer: refuse what a Node.js timer cannot hold.
    return parseTimerDuration(value, field)
  } catch (err) {
    return fail((err as Error).message)
  }
}

function checkTimezone (timezone: string): void {
  if (canonicalZoneName(timezone) === undefined) fail(`timezone: "${timezone}" is not an IANA time zone (e.g. "Europe/Berlin", "UTC")`)
}

/** `runOutput`: false, or `{ maxBytes }` (an integer from 256 to 1 MiB); default `{ maxBytes: 8192 }`. */
function readRunOutput (value: unknown): false | { maxBytes: number } {
  if (value === undefined) return { maxBytes: DEFAULT_OUTPUT_BYTES }
  if (value === false) return false
  const accepted = 'false, or { maxBytes } with maxBytes an integer from 256 to 1048576'
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`runOutput: must be ${accepted} (got ${describeValue(value)})`)
  const unknown = Object.keys(value).find(key => key !== 'maxBytes')
  if (unknown !== undefined) fail(`runOutput: unknown key "${unknown}" (accepted: maxBytes)`)
  const { maxBytes } = value as { maxBytes?: unknown }
  if (maxBytes === undefined) return { maxBytes: DEFAULT_OUTPUT_BYTES }
  if (typeof maxBytes !== 'number' || !Number.isInteger(maxBytes) || maxBytes < 256 || maxBytes > 1_048_576) {
    fail(`runOutput.maxBytes: must be an integer from 256 to 1048576 (got ${describeValue(maxBytes)})`)
  }
  return { maxBytes }
}

/** Validate and resolve the plugin options. Throws on anything wrong. */
export function resolveOptions (options: SchedulerOptions | undefined): ResolvedOptions {
  const opts = options ?? {}
  if (typeof opts !== 'object' || opts === null) fail('options must be an object')
  const schemaError = firstSchemaError(opts)
  if (schemaError !== undefined) fail(schemaError)
  const notAStore = opts.store === undefined ? undefined : whyNotAStore(opts.store)
  if (notAStore !== undefined) {
    fail(`store: not a store (${notAStore}); use memoryStore(), sqliteStore({ path }), redisStore({ client | url }), postgresStore({ pool | connectionString }) or a store that passes the conformance suite of fastify-scheduler/testing`)
  }
  if (opts.clock !== undefined && typeof opts.clock !== 'function') fail('clock: must be a function returning ms since the epoch')
  if (opts.timezone !== undefined) checkTimezone(opts.timezone)
  const leaseMs = duration(opts.leaseTime, 'leaseTime', 60_000)
  if (leaseMs < 100) fail('leaseTime: must be at least 100 ms')
  const maxClockSkewMs = opts.maxClockSkew === false ? false : duration(opts.maxClockSkew, 'maxClockSkew', 30_000)
  if (maxClockSkewMs !== false && maxClockSkewMs < 1000) fail('maxClockSkew: must be at least 1 second (a round trip to the store is part of the measurement), or false to turn the check off')
  const dir = opts.dir === undefined ? resolve('tasks') : opts.dir === false ? false : resolve(opts.dir)
  return {
    dir,
    dirExplicit: opts.dir !== undefined,
    tasks: opts.tasks ?? [],
    store: opts.store,
    timezone: opts.timezone,
    prefix: opts.routes === false ? false : opts.prefix ?? '/_schedule',
    auth: opts.auth,
    allowQueryToken: opts.allowQueryToken ?? false,
    allowGetTrigger: opts.allowGetTrigger ?? false,
    maxWaitMs: duration(opts.maxWait, 'maxWait', 25_000),
    expectTickEveryMs: duration(opts.expectTickEvery, 'expectTickEvery', 180_000),
    historyLimit: opts.historyLimit ?? 100,
    leaseMs,
    closeGraceMs: duration(opts.closeGracePeriod, 'closeGracePeriod', 10_000),
    clock: opts.clock ?? Date.now,
    retries: readRetries(opts.retries, 'retries', fail) || undefined,
    overlap: opts.overlap === undefined ? 'skip' : readOverlapPolicy(opts.overlap, 'overlap', fail),
    pauseOnFailure: readPauseOnFailure(opts.pauseOnFailure, 'pauseOnFailure', fail) || undefined,
    storeTimeoutMs: duration(opts.storeTimeout, 'storeTimeout', 5000),
    maxClockSkewMs,
    lateResultGraceMs: duration(opts.lateResultGrace, 'lateResultGrace', 5 * leaseMs),
    ui: opts.ui ?? true,
    metrics: readMetrics(opts.metrics),
    tracing: opts.tracing ?? 'auto',
    runOutput: readRunOutput(opts.runOutput),
    failingTasksUnhealthy: opts.failingTasksUnhealthy ?? false,
    maxPayloadSize: opts.maxPayloadSize ?? DEFAULT_MAX_PAYLOAD_SIZE,
    maxBackfill: opts.maxBackfill ?? DEFAULT_MAX_BACKFILL
  }
}
