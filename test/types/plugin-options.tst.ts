/**
 * The plugin's options as a user writes them in `app.register(fastifyScheduler, { ... })`:
 * every task form is accepted, anything else (`tasks: [{ runEvry: '3 dayz' }, new Date()]`)
 * is a type error.
 */
import Fastify, { type FastifyInstance } from 'fastify'
import { Registry } from 'prom-client'
import { describe, expect, test } from 'tstyche'
import fastifyScheduler, {
  defineTask, memoryStore, sqliteStore, Task, type MetricsOptions, type SchedulerOptions, type TaskContext, type TaskInput
} from '../../index.js'

class SayHi extends Task {
  runEvery = '3 days'
  runAt = '17:00'
  constructor (private readonly app: FastifyInstance) { super() }
  async handle (ctx: TaskContext) { this.app.log.info({ task: ctx.task }, 'hi') }
}

class NoConstructor extends Task {
  runEveryMinute = true
  handle () {}
}

const prune = defineTask({ runEveryMinute: true, handle () {} })

describe('SchedulerOptions', () => {
  test('every task form: a Task subclass, a Task instance, defineTask and a plain object', () => {
    const app = Fastify()
    expect(app.register).type.toBeCallableWith(fastifyScheduler, {
      tasks: [SayHi, NoConstructor, new NoConstructor(), prune, { cron: '0 * * * *', handle () {} }],
      store: memoryStore(),
      timezone: 'Europe/Berlin',
      auth: { tokens: ['a-token-of-sixteen-chars-or-more'] },
      maxWait: '25 seconds'
    })
    expect<SchedulerOptions>().type.toBeAssignableFrom({ dir: false as const, store: sqliteStore({ path: './db.sqlite' }), auth: false as const })
    expect<SchedulerOptions>().type.toBeAssignableFrom({ auth: { authorize: () => true } })
    expect<SchedulerOptions>().type.toBeAssignableFrom({
      auth: {
        tokens: ['a-token-of-sixteen-chars-or-more'],
        basic: true,
        qstash: { currentSigningKey: 'sig_a', nextSigningKey: 'sig_b', url: 'https://example.com/_schedule/run' },
        oidc: { audience: 'https://example.com/_schedule/run', email: 'job@project.iam.gserviceaccount.com' },
        authorize: () => true
      }
    })
  })

  test('TaskInput is the union of task forms, not object', () => {
    expect<TaskInput>().type.not.toBe<object>()
    expect<TaskInput>().type.not.toBeAssignableFrom<Date>()
    expect<TaskInput>().type.not.toBeAssignableFrom<{ runEvery: '3 days' }>()
    expect<TaskInput>().type.not.toBeAssignableFrom<typeof Task>()
    expect<TaskInput>().type.toBeAssignableFrom<typeof SayHi>()
    expect<TaskInput>().type.toBeAssignableFrom<SayHi>()
  })

  test('rejects what is not a task, and object tasks with mistakes', () => {
    const options = (options: SchedulerOptions): SchedulerOptions => options
    expect(options).type.not.toBeCallableWith({ tasks: [{ runEvry: '3 dayz' }, new Date()] })
    expect(options).type.not.toBeCallableWith({ tasks: [new Date()] })
    expect(options).type.not.toBeCallableWith({ tasks: [{ runEvery: '3 dayz', handle () {} }] })
    expect(options).type.not.toBeCallableWith({ tasks: [{ runEvry: '3 days', handle () {} }] })
    expect(options).type.not.toBeCallableWith({ tasks: [Task] })
    expect(options).type.not.toBeCallableWith({ auth: { token: 'a-token-of-sixteen-chars-or-more' } })
    expect(options).type.not.toBeCallableWith({ auth: { qstash: { currentSigningKey: 'sig_a' } } })
    expect(options).type.not.toBeCallableWith({ auth: { oidc: { issuer: 'https://accounts.google.com' } } })
    expect(options).type.not.toBeCallableWith({ auth: { basic: 'yes' } })
    expect(options).type.not.toBeCallableWith({ timezone: 1 })
  })

  test('metrics and tracing: a boolean, or metrics { auth, registry } with a prom-client Registry', () => {
    const options = (options: SchedulerOptions): SchedulerOptions => options
    expect(options).type.toBeCallableWith({ metrics: false, tracing: true })
    expect(options).type.toBeCallableWith({ metrics: { auth: false } })
    expect(options).type.toBeCallableWith({ metrics: { registry: new Registry() } })
    expect(options).type.not.toBeCallableWith({ metrics: { auth: 'no' } })
    expect(options).type.not.toBeCallableWith({ metrics: { registry: {} } })
    expect(options).type.not.toBeCallableWith({ metrics: { scrape: true } })
    expect(options).type.not.toBeCallableWith({ tracing: 'on' })
    expect<MetricsOptions>().type.toBeAssignableFrom<{ auth: boolean }>()
  })

  test('runOutput and failingTasksUnhealthy (docs/RUN-OUTPUT.md)', () => {
    const options = (options: SchedulerOptions): SchedulerOptions => options
    expect(options).type.toBeCallableWith({ runOutput: false, failingTasksUnhealthy: true })
    expect(options).type.toBeCallableWith({ runOutput: { maxBytes: 4096 } })
    expect(options).type.toBeCallableWith({ runOutput: {} })
    expect(options).type.not.toBeCallableWith({ runOutput: true })
    expect(options).type.not.toBeCallableWith({ runOutput: { maxBytes: '4k' } })
    expect(options).type.not.toBeCallableWith({ failingTasksUnhealthy: 'yes' })
  })
})
