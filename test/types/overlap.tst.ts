/**
 * Overlap policies in the types (docs/OVERLAP.md): the task option and the plugin default
 * take exactly the four policies; the run status and the tick outcome know `cancelled`.
 */
import { describe, expect, test } from 'tstyche'
import Fastify from 'fastify'
import fastifyScheduler, { defineTask, type OverlapPolicy, type RunOutcome, type RunStatus } from '../../index.js'
import type { StartRunResult } from '../../store.js'

describe('overlap', () => {
  test('the task option takes the four policies, and allowOverlap still compiles (deprecated)', () => {
    expect<OverlapPolicy>().type.toBe<'skip' | 'bufferOne' | 'cancelOther' | 'allow'>()
    expect(defineTask).type.toBeCallableWith({ runEveryMinute: true, overlap: 'bufferOne', handle () {} })
    expect(defineTask).type.toBeCallableWith({ runEveryMinute: true, overlap: 'cancelOther', handle () {} })
    expect(defineTask).type.toBeCallableWith({ runEveryMinute: true, allowOverlap: true, handle () {} })
    expect(defineTask({ runEveryMinute: true, overlap: 'bufferone', handle () {} })).type.toRaiseError('Type \'"bufferone"\' is not assignable')
  })

  test('the plugin default takes the same policies', () => {
    const app = Fastify()
    expect(app.register).type.toBeCallableWith(fastifyScheduler, { overlap: 'cancelOther' })
    expect(app.register).type.toBeCallableWith(fastifyScheduler, { overlap: 'allow' })
    expect(app.register).type.not.toBeCallableWith(fastifyScheduler, { overlap: 'cancel' })
  })

  test('cancelled runs and buffered outcomes are in the types', () => {
    expect<'cancelled'>().type.toBeAssignableTo<RunStatus>()
    expect<'buffered'>().type.toBeAssignableTo<RunOutcome['status']>()
    expect<'cancelled'>().type.toBeAssignableTo<RunOutcome['status']>()
    expect<{ outcome: 'buffered', holder: string }>().type.toBeAssignableTo<StartRunResult>()
    expect<{ outcome: 'busy', holder: string }>().type.toBeAssignableTo<StartRunResult>()
  })
})
