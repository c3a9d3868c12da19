/**
 * What the scheduler tells the outside about its runs and its store calls
 * (docs/OBSERVABILITY.md): Prometheus metrics (`metrics.ts`) and an OpenTelemetry span per
 * run (`tracing.ts`). The runner and the store guard call an `Observer`; with both off they
 * call `NO_OBSERVER`, whose methods do nothing. Nothing here runs on an idle ping.
 */
import type { RunStatus } from './stores/store.js'

/** A run that has just started. */
export interface RunStart {
  task: string
  runId: string
  scheduledFor: Date
  /** When it started (ms, store time). */
  startedMs: number
  trigger: string
  forced: boolean
  attempt: number
}

/** How a started run ended. */
export interface RunEnd {
  status: 'succeeded' | 'failed' | 'timed_out' | 'cancelled'
  durationMs: number
  /** What `handle` threw (failed) or the abort reason (timed out). */
  thrown: unknown
  /** Why the run lost its lease, if it did. */
  leaseLost: string | undefined
}

/** One run being watched: its span's context for `handle`, and its end. */
export interface RunWatch {
  /** Call `fn` with the run's span as the active one (child spans of the task nest under it). */
  within: <T>(fn: () => T) => T
  end: (end: RunEnd) => void
}

export interface Observer {
  /** A run started in this process. */
  runStarted: (run: RunStart) => RunWatch
  /** A record this process wrote without running anything (missed, skipped). */
  recorded: (task: string, status: RunStatus) => void
  /** `n` occurrences of `task` were folded into one run (catch-up ran only the latest). */
  coalesced: (task: string, n: number) => void
  /** A store call ended after `seconds`; `failed`: it threw, failed or timed out. */
  storeCall: (operation: string, seconds: number, failed: boolean) => void
}

const NO_WATCH: RunWatch = { within: fn => fn(), end: () => {} }

/** The observer when metrics and tracing are both off. */
export const NO_OBSERVER: Observer = Object.freeze({
  runStarted: () => NO_WATCH,
  recorded: () => {},
  coalesced: () => {},
  storeCall: () => {}
})

/** One observer calling each of `observers` in turn. */
export function combineObservers (observers: ReadonlyArray<Observer | undefined>): Observer {
  const list = observers.filter((o): o is Observer => o !== undefined)
  if (list.length === 0) return NO_OBSERVER
  if (list.length === 1) return list[0]!
  return {
    runStarted: run => {
      const watches = list.map(o => o.runStarted(run))
      return {
        within: fn => watches.reduceRight<() => ReturnType<typeof fn>>((inner, watch) => () => watch.within(inner), fn)(),
        end: end => { for (const watch of watches) watch.end(end) }
      }
    },
    recorded: (task, status) => { for (const o of list) o.recorded(task, status) },
    coalesced: (task, n) => { for (const o of list) o.coalesced(task, n) },
    storeCall: (operation, seconds, failed) => { for (const o of list) o.storeCall(operation, seconds, failed) }
  }
}

/**
 * The observer with every call guarded: a metric or span that throws is logged through
 * `warn` and never reaches the run, its record or a store call.
 */
export function safeObserver (observer: Observer, warn: (err: unknown, what: string) => void): Observer {
  if (observer === NO_OBSERVER) return observer
  const guard = (what: string, fn: () => void): void => {
    try { fn() } catch (err) { warn(err, what) }
  }
  return {
    runStarted: run => {
      let watch = NO_WATCH
      guard('runStarted', () => { watch = observer.runStarted(run) })
      return {
        within: fn => watch.within(fn),
        end: end => guard('runEnded', () => watch.end(end))
      }
    },
    recorded: (task, status) => guard('recorded', () => observer.recorded(task, status)),
    coalesced: (task, n) => guard('coalesced', () => observer.coalesced(task, n)),
    storeCall: (operation, seconds, failed) => guard('storeCall', () => observer.storeCall(operation, seconds, failed))
  }
}
