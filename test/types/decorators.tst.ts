/**
 * The step a user takes so a task can use the app's own decorators with types: declare them
 * on FastifyInstance next to the decorate call (as fastify-cli's templates do). Then both
 * `this.app.mail` in the class form and `ctx.app.mail` in the object form type-check.
 */
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { describe, expect, test } from 'tstyche'
import { defineTask, Task, type TaskContext, type TaskInput } from '../../index.js'

interface Mailer {
  send (message: { to: string, subject: string, text: string }): Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    mail: Mailer
  }
}

// plugins/mail.ts
const mailPlugin = fp(async (app: FastifyInstance) => {
  app.decorate('mail', { async send () {} })
})

// tasks/say-hi.ts
class SayHi extends Task {
  runEvery = '3 days'
  runAt = '17:00'
  constructor (private readonly app: FastifyInstance) { super() }
  async handle (ctx: TaskContext) {
    await this.app.mail.send({ to: 'ops@example.com', subject: 'hi', text: ctx.task })
  }
}

describe('declare module fastify', () => {
  test('the decorator is typed on the app and on ctx.app', () => {
    expect(mailPlugin).type.not.toBe<never>()
    expect<FastifyInstance['mail']>().type.toBe<Mailer>()
    expect<TaskContext['app']['mail']>().type.toBe<Mailer>()
    expect(SayHi).type.toBeAssignableTo<TaskInput>()
    expect(defineTask).type.toBeCallableWith({
      runAt: '17:00',
      async handle ({ app }: TaskContext) { await app.mail.send({ to: 'a@example.com', subject: 's', text: 't' }) }
    })
  })
  test('and checks its use', () => {
    expect(defineTask({
      runAt: '17:00',
      async handle ({ app }) { await app.mail.send({ to: 'a@example.com' }) }
    })).type.toRaiseError(2345)
  })
})
