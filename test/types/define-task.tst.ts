/**
 * The object form checks what TypeScript can: schedule strings, option types and property
 * names. Each rejected call here is also rejected by the boot, with a message.
 */
import { describe, expect, test } from 'tstyche'
import { defineTask, type TaskContext, type TaskObject } from '../../index.js'

describe('defineTask', () => {
  test('accepts every schedule family and option, and returns the task with its literal types', () => {
    const task = defineTask({
      name: 'sync-subscribers',
      runEvery: '3 days',
      runAt: '17:00',
      timezone: 'Europe/Berlin',
      timeout: '2 minutes',
      catchUp: '15 minutes',
      allowOverlap: false,
      enabled: true,
      async handle (ctx) {
        expect(ctx).type.toBe<TaskContext>()
      }
    })
    expect(task.runEvery).type.toBe<'3 days'>()
    expect(task).type.toBeAssignableTo<TaskObject>()
    expect(defineTask).type.toBeCallableWith({ runEvery: '7 Minutes', handle () {} })
    expect(defineTask).type.toBeCallableWith({ runAt: '5:30', handle () {} })
    expect(defineTask).type.toBeCallableWith({ runEveryHour: true, handle () {} })
    expect(defineTask).type.toBeCallableWith({ runEveryMinute: true, catchUp: false, handle () {} })
    expect(defineTask).type.toBeCallableWith({ twiceDaily: [1, 13], handle () {} })
    expect(defineTask).type.toBeCallableWith({ cron: '*/5 * * * *', timeout: 30_000, handle () {} })
    expect(defineTask).type.toBeCallableWith({ handle () {} })
  })

  test('rejects malformed schedules', () => {
    expect(defineTask({ runEvery: '3 dayz', handle () {} })).type.toRaiseError('Type \'"3 dayz"\' is not assignable')
    expect(defineTask({ runEvery: 'every day', handle () {} })).type.toRaiseError('Type \'"every day"\' is not assignable')
    expect(defineTask({ runAt: '25:00', handle () {} })).type.toRaiseError('Type \'"25:00"\' is not assignable')
    expect(defineTask({ runAt: '5pm', handle () {} })).type.toRaiseError('Type \'"5pm"\' is not assignable')
    expect(defineTask({ twiceDaily: [1], handle () {} })).type.toRaiseError("Type '[number]' is not assignable")
    expect(defineTask({ timeout: '10 minits', handle () {} })).type.toRaiseError('Type \'"10 minits"\' is not assignable')
  })

  test('rejects unknown and misspelt keys, and a task without handle', () => {
    // The error names the property, as an excess-property check would.
    expect(defineTask({ run_every: '3 days', handle () {} })).type.toRaiseError('is not assignable to type \'UnknownTaskProperty<"run_every">\'')
    expect(defineTask({ runEvry: '5 minutes', handle () {} })).type.toRaiseError('is not assignable to type \'UnknownTaskProperty<"runEvry">\'')
    expect(defineTask({ runEveryMinute: true, retry: { attempts: 3 }, handle () {} })).type.toRaiseError('UnknownTaskProperty<"retry">')
    expect(defineTask({ runEveryMinute: true, onSucces: () => {}, handle () {} })).type.toRaiseError('UnknownTaskProperty<"onSucces">')
    expect(defineTask({ runEvery: '3 days' })).type.toRaiseError("Property 'handle' is missing")
    expect(defineTask({ runEveryMinute: true, handle: 'not a function' })).type.toRaiseError("Type 'string' is not assignable")
  })
})
