/**
 * Turns what a task file exports into a validated `ResolvedTask` (docs/ARCHITECTURE.md#tasks). Every mistake
 * fails the boot with an error naming the source, the property and what is accepted.
 */
import { basename, extname } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { Compile } from 'typebox/compile'
import { describeValue, MAX_TIMER_MS, parseDuration } from './duration.js'
import { InvalidTaskError } from '../core/errors.js'
import { SCHEDULE_KEYS, TASK_KEYS, compileSchedule } from './schedule.js'
import { editDistance, normalizeName, suggest } from '../core/suggest.js'
import { Task, isDefinedTask } from './task.js'
import { OVERLAP_POLICIES, type OverlapPolicy, type PayloadCheck, type ResolvedTask, type ScheduleDefinition, type TaskContext } from './types.js'

export interface ResolveTaskOptions {
  /** Names the task in errors: a file path, or `options.tasks[i]`. */
  source: string
  /** The file name, for the default task name (`say_hi.ts` → `say-hi`). */
  fileName?: string | undefined
  /** Passed to a task class's constructor. */
  app: FastifyInstance
  /** The plugin's time zone, used when the task has none. */
  timezone?: string
  /** The plugin's overlap policy, used when the task has none (default `'skip'`). */
  overlap?: OverlapPolicy
  /** Receives accepted-but-ignored input (`runAt` with a minute schedule) and deprecations. */
  warn: (message: string) => void
}

const DEFAULT_TIMEOUT = '10 minutes'
const EXPECTED_TASK = 'expected a class extending Task, a class with a handle method, or defineTask({ ..., handle (ctx) { ... } })'

/** What the options are read from, and how strictly unknown properties are judged. */
interface TaskSource {
  target: Record<string, unknown>
  /** The object form owns every property; a class instance may carry its own (`app`, `db`). */
  form: 'object' | 'instance'
  className?: string | undefined
}

/** Validates a task export (class, instance or object) into what the scheduler runs. */
export function resolveTask (exported: unknown, options: ResolveTaskOptions): ResolvedTask {
  const fail = (message: string): Error => new InvalidTaskError(`${options.source}: ${message}`)
  const task = taskSource(exported, options, fail)
  rejectUnknownProperties(task, fail)
  const { target } = task
  const handle = target.handle
  if (typeof handle !== 'function') {
    throw fail(`handle must be a function handle (ctx) { ... }, got ${describeValue(handle)}`)
  }
  const schedule = compileSchedule(pickSchedule(target), {
    timezone: readTimezone(target.timezone, fail) ?? options.timezone,
    warn: options.warn,
    source: options.source
  })
  return {
    name: taskName(task, options.fileName, fail),
    source: options.source,
    schedule,
    timezone: schedule.timezone,
    timeoutMs: readTimeout(target.timeout, fail),
    catchUpMs: readCatchUp(target.catchUp, fail),
    overlap: readOverlap(target, options, fail),
    enabled: readBoolean('enabled', target.enabled, true, fail),
    retries: readRetries(target.retries, 'retries', fail),
    heartbeat: readHeartbeat(target.heartbeat, fail),
    pauseOnFailure: readPauseOnFailure(target.pauseOnFailure, 'pauseOnFailure', fail),
    payload: readPayload(target.payload, fail),
    handle: async (ctx: TaskContext) => await handle.call(target, ctx),
    onSuccess: readHook(target, 'onSuccess', fail),
    onFailure: readHook(target, 'onFailure', fail)
  }
}

/**
 * Compile a task's `payload` JSON Schema (TypeBox or plain) with TypeBox's compiler; a schema
 * it cannot compile fails the boot naming the task (docs/PAYLOADS.md#payloads).
 */
export function readPayload (value: unknown, fail: (message: string) => Error): PayloadCheck | undefined {
  if (value === undefined) return undefined
  if (!isObject(value) && typeof value !== 'boolean') throw fail(`payload must be a JSON Schema (a TypeBox type or a schema object), got ${describeValue(value)}`)
  let validator: ReturnType<typeof Compile>
  try {
    validator = Compile(value as never)
    validator.Check(null)
  } catch (err) {
    throw fail(`payload is not a JSON Schema TypeBox can compile: ${(err as Error).message}`)
  }
  return {
    check (payload: unknown): string | undefined {
      if (validator.Check(payload)) return undefined
      const [first] = validator.Errors(payload) as Array<{ instancePath: string, message?: string }>
      const path = first === undefined || first.instancePath === '' ? '' : first.instancePath.split('/').slice(1).join('.')
      return `payload${path === '' ? '' : `.${path}`} ${first?.message ?? 'does not match the task\'s payload schema'}`
    }
  }
}

/** True for anything `resolveTask` treats as a task: discovery uses it to judge exports. */
export function isTaskLike (value: unknown): boolean {
  if (typeof value === 'function') return isTaskClass(value)
  return isDefinedTask(value) || (isObject(value) && typeof value.handle === 'function')
}

function isTaskClass (value: unknown): value is new (app: FastifyInstance) => Record<string, unknown> {
  if (typeof value !== 'function') return false
  const prototype: unknown = value.prototype
  return prototype instanceof Task || (isObject(prototype) && typeof prototype.handle === 'function')
}

function isObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object'
}

/** Constructs a class with the app; takes instances and objects as they are. */
function taskSource (exported: unknown, options: ResolveTaskOptions, fail: (message: string) => Error): TaskSource {
  if (isTaskClass(exported)) {
    let instance: Record<string, unknown>
    try {
      const TaskClass = exported
      instance = new TaskClass(options.app)
    } catch (error) {
      const failure = fail(`constructing ${exported.name !== '' ? exported.name : 'the task class'} failed: ${error instanceof Error ? error.message : String(error)}`)
      failure.cause = error
      throw failure
    }
    return { target: instance, form: 'instance', className: exported.name }
  }
  if (!isObject(exported) || Array.isArray(exported)) {
    throw fail(`does not export a task (${EXPECTED_TASK}), got ${describeValue(exported)}`)
  }
  const prototype: unknown = Object.getPrototypeOf(exported)
  if (prototype === Object.prototype || prototype === null) return { target: exported, form: 'object' }
  return { target: exported, form: 'instance', className: (exported.constructor as { name?: string } | undefined)?.name }
}

/**
 * Object form: every key must be known. Class instance: own data properties are the task's
 * business (`app`, `db`), except those that look like a misspelt option (`run_every`,
 * `timout`) — nothing is silently ignored.
 */
function rejectUnknownProperties ({ target, form }: TaskSource, fail: (message: string) => Error): void {
  for (const key of Object.keys(target)) {
    if (TASK_KEYS.includes(key)) continue
    if (form === 'object') {
      const guess = suggest(key, TASK_KEYS)
      throw fail(`unknown property "${key}"${guess === undefined ? ` (accepted: ${TASK_KEYS.join(', ')})` : ` — did you mean "${guess}"?`}`)
    }
    const descriptor = Object.getOwnPropertyDescriptor(target, key)
    const guess = descriptor !== undefined && 'value' in descriptor ? likelyMisspelt(key) : undefined
    if (guess !== undefined) throw fail(`unknown property "${key}" — did you mean "${guess}"?`)
  }
}

/**
 * Stricter than `suggest` for class instances, whose own properties are mostly services:
 * within 2 edits, but 1 for options of 5 letters or fewer (`node` is 2 edits from `name`).
 */
function likelyMisspelt (key: string): string | undefined {
  const guess = suggest(key, TASK_KEYS)
  if (guess === undefined) return undefined
  const distance = editDistance(normalizeName(key), normalizeName(guess))
  return distance <= (guess.length <= 5 ? 1 : 2) ? guess : undefined
}

function pickSchedule (target: Record<string, unknown>): ScheduleDefinition {
  const schedule: Record<string, unknown> = {}
  for (const key of SCHEDULE_KEYS) if (target[key] !== undefined) schedule[key] = target[key]
  return schedule
}

/** `name` if given, else the file name, else the class name, in kebab-case. */
function taskName (task: TaskSource, fileName: string | undefined, fail: (message: string) => Error): string {
  const { name } = task.target
  if (name !== undefined) {
    if (typeof name !== 'string' || name.trim() === '') throw fail(`name: expected a non-empty string, got ${describeValue(name)}`)
    return name
  }
  const fallback = fileName !== undefined ? basename(fileName, extname(fileName)) : task.className ?? ''
  const derived = kebabCase(fallback)
  if (derived === '') throw fail('cannot tell the task\'s name: give it a name property')
  return derived
}

/** `SayHi`, `sayHi`, `say_hi`, `say hi` → `say-hi`; `ImportXML` → `import-xml`. */
export function kebabCase (text: string): string {
  return text
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1-$2')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .toLowerCase()
}

/** The task's own zone; compileSchedule checks that it exists. */
function readTimezone (value: unknown, fail: (message: string) => Error): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string') {
    throw fail(`timezone: expected an IANA time zone name such as "Europe/Berlin" or "UTC", got ${describeValue(value)}`)
  }
  return value
}

function readTimeout (value: unknown, fail: (message: string) => Error): number {
  const ms = readDuration('timeout', value ?? DEFAULT_TIMEOUT, fail)
  if (ms <= 0) throw fail(`timeout ${describeValue(value)}: must be longer than 0 (such as '10 minutes')`)
  if (ms > MAX_TIMER_MS) throw fail(`timeout ${describeValue(value)}: at most ${MAX_TIMER_MS} ms (about 24 days), the longest timer Node.js keeps`)
  return ms
}

const RETRIES_ACCEPTED = "{ attempts: 2 to 100, delay: a duration such as '5 minutes' (default '1 minute') }, or false"

/**
 * `retries: { attempts, delay }` of a task or of the plugin (`field` names which). Undefined
 * when absent; false for an explicit "none".
 */
export function readRetries (value: unknown, field: string, fail: (message: string) => Error): { attempts: number, delayMs: number } | false | undefined {
  if (value === undefined) return undefined
  if (value === false) return false
  if (!isObject(value) || Array.isArray(value)) throw fail(`${field}: expected ${RETRIES_ACCEPTED}, got ${describeValue(value)}`)
  const unknown = Object.keys(value).find(key => key !== 'attempts' && key !== 'delay')
  if (unknown !== undefined) {
    const guess = suggest(unknown, ['attempts', 'delay'])
    throw fail(`${field}: unknown property "${unknown}"${guess === undefined ? '' : ` — did you mean "${guess}"?`} (expected ${RETRIES_ACCEPTED})`)
  }
  const { attempts } = value
  if (typeof attempts !== 'number' || !Number.isInteger(attempts) || attempts < 2 || attempts > 100) {
    throw fail(`${field}.attempts: expected an integer from 2 to 100 (runs in all, the first included), got ${describeValue(attempts)}`)
  }
  return { attempts, delayMs: readDuration(`${field}.delay`, value.delay ?? '1 minute', fail) }
}

/** `pauseOnFailure`: a whole number of failures in a row from 1, or false (docs/PAUSE.md). */
export function readPauseOnFailure (value: unknown, field: string, fail: (message: string) => Error): number | false | undefined {
  if (value === undefined || value === false) return value
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 10_000) {
    throw fail(`${field}: expected a whole number of failures in a row from 1 to 10000, or false, got ${describeValue(value)}`)
  }
  return value
}

/** An http(s) URL for the Healthchecks.io-style pings. */
function readHeartbeat (value: unknown, fail: (message: string) => Error): URL | undefined {
  if (value === undefined) return undefined
  let url: URL | undefined
  try {
    url = typeof value === 'string' ? new URL(value) : undefined
  } catch {}
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw fail(`heartbeat: expected an http(s) URL such as "https://hc-ping.com/<uuid>", got ${describeValue(value)}`)
  }
  return url
}

/** `onSuccess` / `onFailure`: a method of the class, or a function of the object form. */
function readHook (target: Record<string, unknown>, key: 'onSuccess' | 'onFailure', fail: (message: string) => Error): ((...args: any[]) => Promise<unknown>) | undefined {
  const hook = target[key]
  if (hook === undefined) return undefined
  if (typeof hook !== 'function') throw fail(`${key} must be a function, got ${describeValue(hook)}`)
  return async (...args: unknown[]) => await hook.apply(target, args)
}

/** true (default) → no limit; false → the occurrence's minute only; a duration → that late. */
function readCatchUp (value: unknown, fail: (message: string) => Error): number {
  if (value === undefined || value === true) return Infinity
  if (value === false) return 0
  if (typeof value !== 'string' && typeof value !== 'number') {
    throw fail(`catchUp: expected true, false or a duration such as '15 minutes', got ${describeValue(value)}`)
  }
  return readDuration('catchUp', value, fail)
}

function readDuration (field: string, value: unknown, fail: (message: string) => Error): number {
  try {
    return parseDuration(value, field)
  } catch (error) {
    throw fail((error as Error).message)
  }
}

/**
 * An overlap policy (`field` names where it was given), checked with a did-you-mean for a
 * misspelt one. Exported for the plugin option of the same name.
 */
export function readOverlapPolicy (value: unknown, field: string, fail: (message: string) => Error): OverlapPolicy {
  if (typeof value === 'string' && (OVERLAP_POLICIES as readonly string[]).includes(value)) return value as OverlapPolicy
  const guess = typeof value === 'string' ? suggest(value, OVERLAP_POLICIES) : undefined
  const accepted = OVERLAP_POLICIES.map(p => `'${p}'`).join(', ')
  throw fail(`${field}: ${describeValue(value)} is not an overlap policy${guess === undefined ? '' : ` — did you mean '${guess}'?`} (accepted: ${accepted})`)
}

/** `overlap`, or the deprecated `allowOverlap` (true → 'allow', false → 'skip', with a warning); never both. */
function readOverlap (target: Record<string, unknown>, options: ResolveTaskOptions, fail: (message: string) => Error): OverlapPolicy {
  if (target.allowOverlap !== undefined) {
    if (target.overlap !== undefined) throw fail('allowOverlap and overlap both given: keep only overlap (allowOverlap is deprecated)')
    const allow = readBoolean('allowOverlap', target.allowOverlap, false, fail)
    options.warn(`${options.source}: allowOverlap is deprecated: use overlap: '${allow ? 'allow' : 'skip'}' (docs/OVERLAP.md)`)
    return allow ? 'allow' : 'skip'
  }
  if (target.overlap === undefined) return options.overlap ?? 'skip'
  return readOverlapPolicy(target.overlap, 'overlap', fail)
}

function readBoolean (field: string, value: unknown, fallback: boolean, fail: (message: string) => Error): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw fail(`${field}: expected true or false, got ${describeValue(value)}`)
  return value
}
