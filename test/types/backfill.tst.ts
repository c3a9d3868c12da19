/** `app.scheduler.backfill()` and the `maxBackfill` option, as docs/PAYLOADS.md#backfills promises. */
import Fastify from 'fastify'
import { describe, expect, test } from 'tstyche'
import fastifyScheduler, { type BackfillAnswer } from '../../index.js'
import type { Backfill, ClusterState } from '../../store.js'

describe('backfill', () => {
  const app = Fastify()
  test('a task by name and a range of Dates', () => {
    expect(app.scheduler.backfill('report', { from: new Date(), to: new Date() })).type.toBe<Promise<BackfillAnswer>>()
    expect(app.scheduler.backfill).type.not.toBeCallableWith('report', { from: '2026-05-01', to: new Date() })
    expect(app.scheduler.backfill).type.not.toBeCallableWith('report', { from: new Date() })
    expect(app.scheduler.backfill).type.not.toBeCallableWith({ from: new Date(), to: new Date() })
  })
  test('the answer says how many occurrences and whether it was created', () => {
    expect<BackfillAnswer['occurrences']>().type.toBe<number>()
    expect<BackfillAnswer['created']>().type.toBe<boolean>()
    expect<BackfillAnswer['next']>().type.toBe<string | null>()
  })
  test('the cluster state lists pending backfills', () => {
    expect<ClusterState['backfills']>().type.toBe<Backfill[]>()
  })
  test('maxBackfill is a number', () => {
    expect(Fastify().register).type.toBeCallableWith(fastifyScheduler, { maxBackfill: 500 })
    expect(Fastify().register).type.not.toBeCallableWith(fastifyScheduler, { maxBackfill: '500' })
  })
})
