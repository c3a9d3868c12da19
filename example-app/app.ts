/**
 * The example app, laid out like fastify-cli's TypeScript template: `plugins/` (mail, db,
 * the scheduler) and `routes/` are autoloaded; the tasks live in `tasks/`.
 *
 * Run it: `npm run demo` (server.ts), or tick it without a server:
 * `npx fastify-scheduler run --app example-app/app.ts`.
 */
import { join } from 'node:path'
import AutoLoad from '@fastify/autoload'
import type { FastifyPluginAsync } from 'fastify'
import { resolveConfig, type ExampleAppOptions, type ExampleConfig } from './config.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The example app's settings (see config.ts). */
    config: ExampleConfig
  }
}

export type { ExampleAppOptions }

/** Plugin options fastify-cli (and `fastify-scheduler --app`) pass when registering the app. */
export const options: ExampleAppOptions = {}

const app: FastifyPluginAsync<ExampleAppOptions> = async (fastify, opts) => {
  const config = resolveConfig(opts)
  fastify.decorate('config', config)

  // Plugins read app.config and are wrapped with fastify-plugin, so their decorators
  // (app.db, app.mail, app.scheduler) reach the routes and the tasks.
  await fastify.register(AutoLoad, { dir: join(import.meta.dirname, 'plugins') })
  await fastify.register(AutoLoad, { dir: join(import.meta.dirname, 'routes') })
}

export default app
