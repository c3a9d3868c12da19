/**
 * What the stores backed by a driver (SQLite, Redis, Postgres) share: one coded error for
 * every driver failure, and one mapping between a RunRecord and its stored columns.
 */
import type { RunRecord } from './store.js'
import { createRequire } from 'node:module'
import { InvalidOptionError, storeUnavailable } from '../../core/errors.js'

/**
 * Run one driver call, turning any failure into FST_SCHEDULER_STORE_UNAVAILABLE. `explain`
 * may replace a driver's error with a clearer one (keeping it as the cause).
 */
export async function withStoreErrors<T> (fn: () => Promise<T> | T, explain: (err: unknown) => unknown = (err) => err): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    throw storeUnavailable(explain(withMessage(err)))
  }
}

/**
 * Node reports a refused connection to a name with several addresses (`localhost`: ::1 and
 * 127.0.0.1) as an AggregateError with an empty message; say what each attempt met.
 */
function withMessage (err: unknown): unknown {
  if (!(err instanceof AggregateError) || err.message !== '') return err
  const reasons = err.errors.map((e: unknown) => e instanceof Error ? e.message : String(e))
  return new Error(reasons.join('; '), { cause: err })
}

/** The stored fields of a run, in the order Redis scripts return them. */
export const RUN_FIELDS = [
  'id', 'task', 'scheduledFor', 'trigger', 'startedAt', 'finishedAt', 'durationMs', 'status', 'error', 'stack',
  'attempt', 'forced', 'instance', 'output', 'coversFrom', 'coversTo', 'coversCount', 'payload'
] as const

type RunField = (typeof RUN_FIELDS)[number]

/** How many of RUN_FIELDS existed before migration 7 (output, covers come after them). */
export const RUN_CORE_COUNT = 13

/** SQL select list giving the RunRecord field names (SQLite and Postgres share it). */
export const RUN_COLUMNS = 'id, task, scheduled_for AS "scheduledFor", trigger, started_at AS "startedAt", ' +
  'finished_at AS "finishedAt", duration_ms AS "durationMs", status, error, stack, attempt, forced, instance, ' +
  'output, covers_from AS "coversFrom", covers_to AS "coversTo", covers_count AS "coversCount", payload'

/**
 * A run as a driver returns it: instants as Date, ms number or ms string; `forced` as a
 * boolean, 0/1 or '0'/'1'/'true'/'false'; unset fields null. A row written before `attempt`
 * and `forced` existed (v1) has them null: attempt 1, not forced.
 */
export type StoredRun = Record<RunField, string | number | boolean | Date | null | undefined>

function toDate (value: string | number | boolean | Date): Date {
  return value instanceof Date ? value : new Date(Number(value))
}

/** A stored flag back to a boolean, whatever the driver made of it. */
function toBoolean (value: StoredRun[RunField]): boolean {
  return value === true || value === 1 || value === '1' || value === 'true'
}

/** Decode a stored run; unset optional fields are left absent, not null. */
export function runFromStored (row: StoredRun): RunRecord {
  const run: RunRecord = {
    id: String(row.id),
    task: String(row.task),
    scheduledFor: toDate(row.scheduledFor as string | number | Date),
    trigger: row.trigger as RunRecord['trigger'],
    startedAt: toDate(row.startedAt as string | number | Date),
    status: row.status as RunRecord['status'],
    attempt: row.attempt == null ? 1 : Number(row.attempt),
    forced: toBoolean(row.forced)
  }
  if (row.finishedAt != null) run.finishedAt = toDate(row.finishedAt as string | number | Date)
  if (row.durationMs != null) run.durationMs = Number(row.durationMs)
  if (row.error != null) run.error = String(row.error)
  if (row.stack != null) run.stack = String(row.stack)
  if (row.instance != null) run.instance = String(row.instance)
  if (row.output != null) run.output = String(row.output)
  if (row.coversFrom != null && row.coversTo != null && row.coversCount != null) {
    run.covers = {
      from: toDate(row.coversFrom as string | number | Date),
      to: toDate(row.coversTo as string | number | Date),
      count: Number(row.coversCount)
    }
  }
  if (row.payload != null) run.payload = String(row.payload)
  return run
}

/** Encode a run for storage, each instant through `instant`; unset optional fields become null. */
export function runToStored<T> (run: RunRecord, instant: (date: Date) => T) {
  return {
    id: run.id,
    task: run.task,
    scheduledFor: instant(run.scheduledFor),
    trigger: run.trigger,
    startedAt: instant(run.startedAt),
    finishedAt: run.finishedAt === undefined ? null : instant(run.finishedAt),
    durationMs: run.durationMs ?? null,
    status: run.status,
    error: run.error ?? null,
    stack: run.stack ?? null,
    attempt: run.attempt,
    // 1/0: what SQLite and Redis store, and what a Postgres boolean accepts.
    forced: run.forced ? 1 : 0,
    instance: run.instance ?? null,
    output: run.output ?? null,
    coversFrom: run.covers === undefined ? null : instant(run.covers.from),
    coversTo: run.covers === undefined ? null : instant(run.covers.to),
    coversCount: run.covers?.count ?? null,
    payload: run.payload ?? null
  }
}

const requireFromHere = createRequire(import.meta.url)

/**
 * Load a database driver when a store first needs it, so importing the package (the CLI,
 * an app on the SQLite default) never loads ioredis or pg. They are optional peer
 * dependencies: a missing one fails with what to install.
 */
export function requireDriver<T> (name: 'ioredis' | 'pg', store: string): T {
  try {
    return requireFromHere(name) as T
  } catch (err) {
    if ((err as { code?: string }).code !== 'MODULE_NOT_FOUND') throw err
    throw new InvalidOptionError(`${store} needs the "${name}" package: npm install ${name}`)
  }
}
