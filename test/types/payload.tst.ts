/**
 * `ctx.payload` is typed from the task's `payload` schema in `defineTask` (docs/PAYLOADS.md#payloads).
 */
import Fastify from 'fastify'
import Type from 'typebox'
import { describe, expect, test } from 'tstyche'
import { defineTask, type RunOutcome } from '../../index.js'
import '../../index.js'

describe('defineTask with a payload schema', () => {
  test('a TypeBox schema types ctx.payload', () => {
    defineTask({
      payload: Type.Object({ orderId: Type.String(), amount: Type.Number() }),
      handle ({ payload }) {
        expect(payload).type.toBe<{ orderId: string, amount: number } | undefined>()
      },
      onSuccess ({ payload }) {
        expect(payload).type.toBe<{ orderId: string, amount: number } | undefined>()
      }
    })
  })
  test('a plain JSON Schema literal is typed too (TypeBox reads it); no schema gives unknown', () => {
    defineTask({
      payload: { type: 'object', properties: { note: { type: 'string' } } },
      handle ({ payload }) { expect(payload).type.toBe<{ note?: string } | undefined>() }
    })
    defineTask({ runEveryMinute: true, handle ({ payload }) { expect(payload).type.toBe<unknown>() } })
  })
  test('a misspelt option is still a type error', () => {
    expect(defineTask).type.not.toBeCallableWith({ payload: Type.String(), handel () {}, handle () {} })
  })
  test('app.scheduler.run takes a payload', () => {
    const app = Fastify()
    expect(app.scheduler.run('refund', { payload: { orderId: 'o-1' } })).type.toBe<Promise<RunOutcome>>()
  })
})
