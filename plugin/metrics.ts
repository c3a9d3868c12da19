/**
 * Prometheus metrics on prom-client (docs/OBSERVABILITY.md). Each plugin instance registers
 * into its own `Registry` unless the app gives one, so several schedulers in one process (tests)
 * never collide in prom-client's global registry.
 *
 * Counters and histograms are this process's (each replica is scraped on its own); the task
 * gauges are the cluster's, read from the store on scrape through a short cache, never on a
 * tick: a replica that ran nothing still reports the cluster's last success.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { FastifyBaseLogger } from 'fastify'
import type { Observer, RunWatch } from './observe.js'
import type { SchedulerListing } from './types.js'

/** The cluster state the gauges are read from is reused for this long (ms). */
export const METRICS_CACHE_MS = 5000
/** Runs read per task for the gauges (the last success further back is not seen). */
export const METRICS_RECENT_RUNS = 20

const DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600]
const LATENESS_BUCKETS = [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 900, 3600]
const STORE_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

export interface MetricsDeps {
  /** The registry to register into: the app's, or a new one per plugin instance. */
  registry: Registry | undefined
  /** The cluster's state: the listing with recent runs (reads the store). */
  cluster: (recent: number) => Promise<SchedulerListing>
  /** Store time (ms), for the cache. */
  clock: () => number
  log: FastifyBaseLogger
}

export interface SchedulerMetrics {
  registry: Registry
  observer: Observer
}

const seconds = (ms: number): number => ms / 1000

/** Register the scheduler's metric families and return the observer that feeds them. */
export function createMetrics (deps: MetricsDeps): SchedulerMetrics {
  const registry = deps.registry ?? new Registry()
  const registers = [registry]

  const runs = new Counter({ name: 'fastify_scheduler_runs_total', help: 'Run records this process wrote, by task and final status (succeeded, failed, timed_out, cancelled, skipped, missed).', labelNames: ['task', 'status'] as const, registers })
  const duration = new Histogram({ name: 'fastify_scheduler_run_duration_seconds', help: 'How long runs started by this process took, by task.', labelNames: ['task'] as const, buckets: DURATION_BUCKETS, registers })
  const lateness = new Histogram({ name: 'fastify_scheduler_run_lateness_seconds', help: 'How late runs started after their scheduled time (start minus scheduled), by task.', labelNames: ['task'] as const, buckets: LATENESS_BUCKETS, registers })
  const coalesced = new Counter({ name: 'fastify_scheduler_occurrences_coalesced_total', help: 'Occurrences folded into a later run by catch-up (not run on their own), by task.', labelNames: ['task'] as const, registers })
  const storeErrors = new Counter({ name: 'fastify_scheduler_store_errors_total', help: 'Store calls that failed or timed out, by operation.', labelNames: ['operation'] as const, registers })
  const storeLatency = new Histogram({ name: 'fastify_scheduler_store_operation_duration_seconds', help: 'How long store calls took, by operation (failures included).', labelNames: ['operation'] as const, buckets: STORE_BUCKETS, registers })

  // The cluster gauges share one read of the store per scrape (and per METRICS_CACHE_MS).
  let cached: { at: number, read: Promise<SchedulerListing | undefined> } | undefined
  const read = (): Promise<SchedulerListing | undefined> => {
    const now = deps.clock()
    if (cached === undefined || now - cached.at >= METRICS_CACHE_MS) {
      cached = {
        at: now,
        read: deps.cluster(METRICS_RECENT_RUNS).catch((err: unknown) => {
          deps.log.warn({ err }, 'fastify-scheduler: metrics could not read the cluster state from the store; task gauges keep their last values')
          cached = undefined
          return undefined
        })
      }
    }
    return cached.read
  }

  const lastSuccess = new Gauge({ name: 'fastify_scheduler_task_last_success_timestamp_seconds', help: 'When the last successful run of the task ended (any replica), Unix seconds.', labelNames: ['task'] as const, registers, collect: async () => { fill(await read()) } })
  const lastRun = new Gauge({ name: 'fastify_scheduler_task_last_run_timestamp_seconds', help: 'When the last run of the task with this final status ended (any replica), Unix seconds.', labelNames: ['task', 'status'] as const, registers, collect: async () => { fill(await read()) } })
  const failures = new Gauge({ name: 'fastify_scheduler_task_consecutive_failures', help: 'Failed, timed-out or abandoned runs of the task in a row (any replica).', labelNames: ['task'] as const, registers, collect: async () => { fill(await read()) } })
  const nextRun = new Gauge({ name: 'fastify_scheduler_task_next_run_timestamp_seconds', help: 'The task\'s next occurrence, Unix seconds (absent for manual-only or disabled tasks).', labelNames: ['task'] as const, registers, collect: async () => { fill(await read()) } })
  const lastTick = new Gauge({ name: 'fastify_scheduler_last_tick_timestamp_seconds', help: 'The cluster\'s last tick (any replica), Unix seconds.', registers, collect: async () => { fill(await read()) } })

  let filled: SchedulerListing | undefined
  /** Set every cluster gauge from one listing (once per listing, whichever gauge asks first). */
  function fill (listing: SchedulerListing | undefined): void {
    if (listing === undefined || listing === filled) return
    filled = listing
    lastSuccess.reset()
    lastRun.reset()
    failures.reset()
    nextRun.reset()
    lastTick.reset()
    if (listing.lastTick !== null) lastTick.set(seconds(Date.parse(listing.lastTick)))
    for (const task of listing.tasks) {
      failures.set({ task: task.name }, task.consecutiveFailures)
      if (task.nextRun !== null) nextRun.set({ task: task.name }, seconds(Date.parse(task.nextRun)))
      // Newest first: the first run seen of each status is its last.
      const seen = new Set<string>()
      for (const run of [...(task.lastRun === null ? [] : [task.lastRun]), ...task.recent]) {
        if (run.status === 'running' || seen.has(run.status)) continue
        seen.add(run.status)
        const endedMs = Date.parse(run.finishedAt ?? run.startedAt)
        lastRun.set({ task: task.name, status: run.status }, seconds(endedMs))
        if (run.status === 'succeeded') lastSuccess.set({ task: task.name }, seconds(endedMs))
      }
    }
  }

  const observer: Observer = {
    runStarted: (run): RunWatch => {
      lateness.observe({ task: run.task }, Math.max(0, seconds(run.startedMs - run.scheduledFor.getTime())))
      return {
        within: fn => fn(),
        end: end => {
          runs.inc({ task: run.task, status: end.status })
          duration.observe({ task: run.task }, seconds(end.durationMs))
        }
      }
    },
    recorded: (task, status) => { runs.inc({ task, status }) },
    coalesced: (task, n) => { if (n > 0) coalesced.inc({ task }, n) },
    storeCall: (operation, secs, failed) => {
      storeLatency.observe({ operation }, secs)
      if (failed) storeErrors.inc({ operation })
    }
  }
  return { registry, observer }
}
