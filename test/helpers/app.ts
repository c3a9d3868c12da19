/**
 * Builds a real Fastify app with the scheduler registered, for tests that drive time
 * through `tick(now)`. Routes are off unless the test asks for them.
 */
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyScheduler from '../../plugin.js'
import { memoryStore } from '../../plugin/stores/memory.js'
import type { SchedulerOptions } from '../../plugin/types.js'

export interface TestClock {
  (): number
  /** Set the clock to an instant. */
  set (at: Date | number): void
  /** Move the clock forward by ms. */
  advance (ms: number): void
}

/** A clock tests move by hand; starts at `start`. */
export function testClock (start: Date | number = Date.now()): TestClock {
  let now = typeof start === 'number' ? start : start.getTime()
  const clock = (() => now) as TestClock
  clock.set = (at) => { now = typeof at === 'number' ? at : at.getTime() }
  clock.advance = (ms) => { now += ms }
  return clock
}

/** A ready app with the scheduler on a memory store, UTC, no routes (unless options say so). */
export async function buildApp (options: SchedulerOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(fastifyScheduler, {
    dir: false,
    store: memoryStore(),
    timezone: 'UTC',
    routes: false,
    ...options
  })
  await app.ready()
  return app
}

/** Test times are UTC: `at('2026-05-11 17:00')` or `at('2026-05-11 17:00:30')`. */
export function at (text: string): Date {
  const iso = text.replace(' ', 'T')
  return new Date(iso.length === 16 ? `${iso}:00Z` : `${iso}Z`)
}
