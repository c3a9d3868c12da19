/**
 * One OpenTelemetry span per run (docs/OBSERVABILITY.md#tracing). `@opentelemetry/api` is an
 * optional peer: it is imported once, dynamically, when tracing is on; where it does not
 * resolve nothing is loaded and runs cost nothing more. The span is started in the context
 * active when the run starts — inside the trigger request, so with @fastify/otel the run is a
 * child of the request's span — and `handle` runs with the run's span active.
 */
import type * as OtelApi from '@opentelemetry/api'
import type { Observer, RunWatch } from './observe.js'
import { describeThrown } from './thrown.js'

export const TRACER_NAME = 'fastify-scheduler'

let loading: Promise<typeof OtelApi | undefined> | undefined

/** `@opentelemetry/api`, or undefined where it does not resolve; imported once per process. */
export function loadOtelApi (): Promise<typeof OtelApi | undefined> {
  // A variable specifier: bundlers and tsc leave the optional peer alone.
  const specifier = '@opentelemetry/api'
  loading ??= (import(specifier) as Promise<typeof OtelApi>).then(mod => mod, () => undefined)
  return loading
}

/** The observer that turns each run into a span. */
export function createTracing (api: typeof OtelApi): Observer {
  const tracer = api.trace.getTracer(TRACER_NAME)
  const noop = (): void => {}
  return {
    runStarted: (run): RunWatch => {
      const parent = api.context.active()
      const span = tracer.startSpan(`scheduler.run ${run.task}`, {
        kind: api.SpanKind.INTERNAL,
        attributes: {
          'scheduler.task': run.task,
          'scheduler.run_id': run.runId,
          'scheduler.scheduled_for': run.scheduledFor.toISOString(),
          'scheduler.lateness_ms': Math.max(0, run.startedMs - run.scheduledFor.getTime()),
          'scheduler.attempt': run.attempt,
          'scheduler.trigger': run.trigger,
          'scheduler.forced': run.forced
        }
      }, parent)
      const active = api.trace.setSpan(parent, span)
      return {
        within: fn => api.context.with(active, fn),
        end: end => {
          span.setAttribute('scheduler.status', end.status)
          span.setAttribute('scheduler.duration_ms', end.durationMs)
          if (end.leaseLost !== undefined) span.setAttribute('scheduler.lease_lost', end.leaseLost)
          // A cancelled run (superseded under overlap 'cancelOther') stopped as asked: not an error.
          if (end.status === 'failed' || end.status === 'timed_out') {
            // Whatever was thrown (a revoked Proxy, a throwing getter) is read defensively.
            const { message: described, stack } = describeThrown(end.thrown)
            const message = ownMessage(end.thrown) ?? described
            span.recordException({ name: nameOf(end.thrown), message, ...(stack !== undefined ? { stack } : {}) })
            span.setStatus({ code: api.SpanStatusCode.ERROR, message })
          }
          span.end()
        }
      }
    },
    recorded: noop,
    coalesced: noop,
    storeCall: noop
  }
}

/** The thrown value's class name (`TypeError`), or `Error` when it cannot be read. */
function nameOf (thrown: unknown): string {
  try {
    if (thrown instanceof Error && typeof thrown.name === 'string') return thrown.name
  } catch {}
  return 'Error'
}

/** An Error's own message, or undefined when it cannot be read (then the described one is used). */
function ownMessage (thrown: unknown): string | undefined {
  try {
    // A long message is left to describeThrown, which cuts it to 4,000 characters.
    if (thrown instanceof Error && typeof thrown.message === 'string' && thrown.message.length <= 4000) return thrown.message
  } catch {}
  return undefined
}
