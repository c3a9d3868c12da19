/**
 * `app.scheduler` and the context a task's `handle` receives, as docs/ARCHITECTURE.md#tasks and #options promise.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { describe, expect, test } from 'tstyche'
import type {
  HistoryPage, RunOutcome, RunTrigger, SchedulerApi, SchedulerListing, TaskContext, TaskRequestInfo, TickResult
} from '../../index.js'
import '../../index.js'

describe('app.scheduler', () => {
  const app = Fastify()
  test('is decorated by the plugin', () => {
    expect(app.scheduler).type.toBe<SchedulerApi>()
  })
  test('tick, run, list, history and add', () => {
    expect(app.scheduler.tick()).type.toBe<Promise<TickResult>>()
    expect(app.scheduler.tick(new Date('2026-05-12T17:00:00Z'))).type.toBe<Promise<TickResult>>()
    expect(app.scheduler.tick).type.toBeCallableWith({ now: new Date(), tasks: ['prune'], force: true })
    expect(app.scheduler.tick).type.not.toBeCallableWith('2026-05-12')
    expect(app.scheduler.run('prune', { force: true })).type.toBe<Promise<RunOutcome>>()
    expect(app.scheduler.list()).type.toBe<Promise<SchedulerListing>>()
    expect(app.scheduler.history({ task: ['prune'], status: ['failed'] })).type.toBe<Promise<HistoryPage>>()
    expect(app.scheduler.history).type.not.toBeCallableWith({ status: ['exploded'] })
    expect(app.scheduler.taskNames).type.toBe<readonly string[]>()
  })
})

describe('TaskContext', () => {
  test('carries the app, a logger, the run and the trigger', () => {
    expect<TaskContext['app']>().type.toBe<FastifyInstance>()
    expect<TaskContext['log']>().type.toBe<FastifyBaseLogger>()
    expect<TaskContext['runId']>().type.toBe<string>()
    expect<TaskContext['task']>().type.toBe<string>()
    expect<TaskContext['scheduledFor']>().type.toBe<Date>()
    expect<TaskContext['trigger']>().type.toBe<RunTrigger>()
    expect<RunTrigger>().type.toBe<'http' | 'ui' | 'cli' | 'work' | 'api' | 'backfill'>()
    expect<TaskContext['forced']>().type.toBe<boolean>()
    expect<TaskContext['signal']>().type.toBe<AbortSignal>()
    expect<TaskContext['request']>().type.toBe<TaskRequestInfo | undefined>()
  })
})
