/** `app.scheduler.pause()` / `resume()` and `pauseOnFailure`, as docs/PAUSE.md promises. */
import Fastify from 'fastify'
import { describe, expect, test } from 'tstyche'
import fastifyScheduler, { defineTask, type PauseAnswer, type ResumeAnswer } from '../../index.js'
import type { TaskPause } from '../../store.js'

describe('pause and resume', () => {
  const app = Fastify()
  test('a task by name, or everything', () => {
    expect(app.scheduler.pause('sync', { reason: 'partner down', by: 'alice' })).type.toBe<Promise<PauseAnswer>>()
    expect(app.scheduler.pause({ reason: 'migration' })).type.toBe<Promise<PauseAnswer>>()
    expect(app.scheduler.resume('sync', { catchUp: true })).type.toBe<Promise<ResumeAnswer>>()
    expect(app.scheduler.resume()).type.toBe<Promise<ResumeAnswer>>()
    expect(app.scheduler.pause).type.not.toBeCallableWith('sync', { reason: 42 })
    expect(app.scheduler.resume).type.not.toBeCallableWith('sync', { catchup: true })
  })
  test('the onPause hook receives the pause', () => {
    app.scheduler.addHook('onPause', pause => {
      expect(pause).type.toBe<Readonly<TaskPause>>()
    })
    expect(app.scheduler.addHook).type.not.toBeCallableWith('onPaused', () => {})
  })
})

describe('pauseOnFailure', () => {
  test('a whole number or false, on a task and the plugin', () => {
    expect(defineTask).type.toBeCallableWith({ runEveryMinute: true, pauseOnFailure: 3, handle () {} })
    expect(defineTask).type.toBeCallableWith({ runEveryMinute: true, pauseOnFailure: false, handle () {} })
    expect(defineTask).type.not.toBeCallableWith({ runEveryMinute: true, pauseOnFailure: '3', handle () {} })
    expect(Fastify().register).type.toBeCallableWith(fastifyScheduler, { pauseOnFailure: 5 })
  })
})
