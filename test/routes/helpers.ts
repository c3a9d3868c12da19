/**
 * Apps for the route tests: the real plugin on a memory store, routes on, a bearer token,
 * a hand-moved clock, and (on request) every log line captured so tests can search them.
 */
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import fastifyScheduler from '../../plugin.js'
import { memoryStore } from '../../plugin/stores/memory.js'
import type { Store } from '../../plugin/stores/store.js'
import type { SchedulerOptions } from '../../plugin/types.js'
import { defineTask } from '../../tasks/task.js'
import type { TaskContext } from '../../tasks/types.js'

export const TOKEN = 'route-test-token-0123456789'
export const OLD_TOKEN = 'rotated-out-token-0123456789'
export const NEW_TOKEN = 'rotated-in-token-0123456789'
export const AUTH = { authorization: `Bearer ${TOKEN}` }
/** A minute-aligned instant every test starts at. */
export const START = Date.parse('2026-05-12T17:00:00Z')

export interface Clock {
  (): number
  set (ms: number): void
}

export function handClock (start = START): Clock {
  let now = start
  const clock = (() => now) as Clock
  clock.set = ms => { now = ms }
  return clock
}

export interface RoutesApp {
  app: FastifyInstance
  clock: Clock
  /** Runs per task name, counted inside the task. */
  runs: Map<string, number>
  /** The request each run saw, in order. */
  contexts: TaskContext[]
  /** Every log line, when built with `captureLogs`. */
  logs: string[]
}

export interface BuildOptions {
  /** Plugin options on top of the defaults (tasks a and b every minute, token auth). */
  plugin?: Partial<SchedulerOptions>
  captureLogs?: boolean
  fastify?: FastifyServerOptions
  /** Called before the scheduler is registered (e.g. to register @fastify/swagger). */
  before?: (app: FastifyInstance) => Promise<void>
}

/** A task that counts its runs; `fail` makes it throw. */
export function countingTask (name: string, state: Pick<RoutesApp, 'runs' | 'contexts'>, extra: { fail?: boolean, runEveryMinute?: boolean } = {}) {
  return defineTask({
    name,
    runEveryMinute: extra.runEveryMinute ?? true,
    handle (ctx: TaskContext) {
      state.runs.set(name, (state.runs.get(name) ?? 0) + 1)
      state.contexts.push(ctx)
      if (extra.fail === true) throw new Error(`${name} broke`)
    }
  })
}

export async function buildRoutesApp (options: BuildOptions = {}): Promise<RoutesApp> {
  const logs: string[] = []
  const clock = handClock()
  const state = { runs: new Map<string, number>(), contexts: [] as TaskContext[] }
  const logger = options.captureLogs === true
    ? { level: 'info', stream: new Writable({ write (chunk, _encoding, done) { logs.push(String(chunk)); done() } }) }
    : false
  const app = Fastify({ logger, ...options.fastify })
  if (options.before !== undefined) await options.before(app)
  await app.register(fastifyScheduler, {
    dir: false,
    store: memoryStore(),
    timezone: 'UTC',
    clock,
    auth: { tokens: [TOKEN] },
    tasks: [countingTask('a', state), countingTask('b', state)],
    ...options.plugin
  })
  await app.ready()
  return { app, clock, logs, ...state }
}

/** A memory store whose every call fails while `down` is true. */
export function flakyStore (): { store: Store, setDown: (down: boolean) => void } {
  const inner = memoryStore()
  let down = false
  const store = new Proxy(inner, {
    get (target, property, receiver) {
      const value = Reflect.get(target, property, receiver)
      if (typeof value !== 'function' || property === 'close') return value
      return (...args: unknown[]) => down
        ? Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6379'))
        : (value as (...a: unknown[]) => unknown).apply(target, args)
    }
  })
  return { store, setDown: value => { down = value } }
}

/**
 * Await `promise` while holding the event loop open. Run timers (timeouts, maxWait) are
 * unref'd so they never hold a server; under `inject` nothing else would keep the test alive.
 */
export async function holdingLoop<T> (promise: Promise<T>): Promise<T> {
  const hold = setInterval(() => {}, 1000)
  try {
    return await promise
  } finally {
    clearInterval(hold)
  }
}
