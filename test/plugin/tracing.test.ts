/**
 * One OpenTelemetry span per run (docs/OBSERVABILITY.md#tracing), checked with the SDK's
 * in-memory exporter and the AsyncLocalStorage context manager: succeeded, failed, timed out,
 * lease lost; a child of the span active when the run starts; off with `tracing: false`.
 */
import t from 'tap'
import { context, trace, SpanStatusCode } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { memoryStore } from '../../plugin/stores/memory.js'
import { defineTask } from '../../tasks/task.js'
import type { TaskContext } from '../../tasks/types.js'
import { interceptStore } from '../helpers/faulty-store.js'
import { at, buildApp } from '../helpers/app.js'

const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
trace.setGlobalTracerProvider(provider)
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
t.teardown(async () => {
  await provider.shutdown()
  trace.disable()
  context.disable()
})
t.beforeEach(() => exporter.reset())

/** A task body that ends only when its run is aborted, rejecting with the abort's reason. */
const untilAborted = (ctx: TaskContext): Promise<void> => new Promise((resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)))
const runSpans = (): ReadableSpan[] => exporter.getFinishedSpans().filter(s => s.name.startsWith('scheduler.run '))
const parentId = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId

t.test('a succeeded run: one span, child of the active span, with the run\'s attributes; the task\'s spans nest under it', async t => {
  const app = await buildApp({
    tasks: [defineTask({
      name: 'ok',
      runEveryMinute: true,
      handle () { trace.getTracer('task').startSpan('inner').end() }
    })]
  })
  t.teardown(() => app.close())
  const tracer = trace.getTracer('test')
  await tracer.startActiveSpan('POST /_schedule/run', async request => {
    await (await app.scheduler.tick(at('2026-05-11 10:00:30'))).settled
    request.end()
  })
  const [span, ...more] = runSpans()
  t.equal(more.length, 0, 'one span per run')
  t.equal(span!.name, 'scheduler.run ok')
  const request = exporter.getFinishedSpans().find(s => s.name === 'POST /_schedule/run')!
  t.equal(parentId(span!), request.spanContext().spanId, 'child of the trigger request\'s span')
  t.equal(span!.spanContext().traceId, request.spanContext().traceId)
  const inner = exporter.getFinishedSpans().find(s => s.name === 'inner')!
  t.equal(parentId(inner), span!.spanContext().spanId, 'spans the task starts are children of the run')
  t.match(span!.attributes, {
    'scheduler.task': 'ok',
    'scheduler.scheduled_for': '2026-05-11T10:00:00.000Z',
    'scheduler.attempt': 1,
    'scheduler.trigger': 'api',
    'scheduler.forced': false,
    'scheduler.status': 'succeeded'
  })
  t.type(span!.attributes['scheduler.lateness_ms'], 'number')
  t.type(span!.attributes['scheduler.run_id'], 'string')
  t.not(span!.status.code, SpanStatusCode.ERROR)
  t.equal(span!.events.length, 0, 'no exception recorded')
})

t.test('a failed run: status ERROR, the exception recorded', async t => {
  const app = await buildApp({ tasks: [defineTask({ name: 'boom', runEveryMinute: true, handle () { throw new TypeError('mail server down') } })] })
  t.teardown(() => app.close())
  await (await app.scheduler.run('boom', { force: true }))
  const [span] = runSpans()
  t.equal(span!.attributes['scheduler.status'], 'failed')
  t.equal(span!.attributes['scheduler.forced'], true)
  t.equal(span!.status.code, SpanStatusCode.ERROR)
  t.match(span!.status.message, /mail server down/)
  const exception = span!.events.find(e => e.name === 'exception')
  t.ok(exception, 'exception event')
  t.equal(exception?.attributes?.['exception.type'], 'TypeError')
  t.equal(exception?.attributes?.['exception.message'], 'mail server down')
})

t.test('a timed-out run: status ERROR, the timeout recorded', async t => {
  const app = await buildApp({
    tasks: [defineTask({
      name: 'slow',
      runEveryMinute: true,
      timeout: 50,
      handle: untilAborted
    })]
  })
  t.teardown(() => app.close())
  const outcome = await app.scheduler.run('slow', { force: true })
  t.equal(outcome.status, 'timed_out')
  const [span] = runSpans()
  t.equal(span!.attributes['scheduler.status'], 'timed_out')
  t.equal(span!.status.code, SpanStatusCode.ERROR)
  t.match(span!.status.message, /timed out after 50 ms/)
  t.ok(span!.events.some(e => e.name === 'exception'))
})

t.test('a run that lost its lease: status ERROR, the lease loss named', async t => {
  const inner = memoryStore()
  const store = interceptStore(() => inner, async (method, call, args) => method === 'renewLease' ? false : await call(...args))
  const app = await buildApp({
    store,
    leaseTime: '150ms',
    tasks: [defineTask({
      name: 'long',
      runEveryMinute: true,
      handle: untilAborted
    })]
  })
  t.teardown(() => app.close())
  const outcome = await app.scheduler.run('long', { force: true })
  t.equal(outcome.status, 'failed')
  const [span] = runSpans()
  t.equal(span!.attributes['scheduler.status'], 'failed')
  t.match(span!.attributes['scheduler.lease_lost'], /lease lost/)
  t.equal(span!.status.code, SpanStatusCode.ERROR)
  t.match(span!.status.message, /lease lost/)
})

t.test('tracing: false starts no span', async t => {
  const app = await buildApp({ tracing: false, tasks: [defineTask({ name: 'quiet', runEveryMinute: true, handle () {} })] })
  t.teardown(() => app.close())
  await app.scheduler.run('quiet', { force: true })
  t.equal(runSpans().length, 0)
})
