/**
 * The test helper of the fastify-cli template: `build(t)` gives a ready example app with
 * its own temporary data and outbox folders, the memory store and UTC schedules, closed
 * (and its folders removed) when the test ends. Drive time with
 * `app.scheduler.tick(new Date(...))`.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { memoryStore } from '../../index.js'
import App, { type ExampleAppOptions } from '../app.js'

// @fastify/autoload loads the .ts plugins and routes only when it knows TypeScript loads.
process.env.FASTIFY_AUTOLOAD_TYPESCRIPT ??= '1'

/** Token of the /_schedule routes in tests. */
export const TEST_TOKEN = 'example-app-test-token-0123456789'

/** What `build` needs of a test: tap's `t` and node:test's context both fit. */
export interface TestContext {
  after (fn: () => unknown): void
}

export async function build (t: TestContext, options: ExampleAppOptions = {}): Promise<FastifyInstance> {
  const dataDir = mkdtempSync(join(tmpdir(), 'example-app-'))
  const app = Fastify({ logger: false })
  // fastify-plugin, as fastify-cli's helper does: the app's decorators are visible on `app`.
  await app.register(fp(App), {
    dataDir,
    outboxDir: join(dataDir, 'outbox'),
    store: memoryStore(),
    timezone: 'UTC',
    scheduleToken: TEST_TOKEN,
    ...options
  })
  t.after(async () => {
    await app.close()
    rmSync(dataDir, { recursive: true, force: true })
  })
  await app.ready()
  return app
}
