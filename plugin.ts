/**
 * The Fastify plugin (docs/ARCHITECTURE.md#tasks, #the-http-routes, #options), at the top of
 * the layers because it wires plugin/ and routes/ together (docs/ARCHITECTURE.md#the-layers):
 * resolves options, discovers task files, decorates `app.scheduler`, registers the
 * encapsulated `/_schedule` routes, constructs tasks when the
 * app is ready (so every decorator is visible, whatever the registration order) and, on
 * close, aborts running tasks, waits for them and closes the store.
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { resolveTask } from './tasks/resolve.js'
import type { ResolvedTask } from './tasks/types.js'
import { resolveAuth } from './routes/auth.js'
import { scheduleRoutes } from './routes/index.js'
import { discoverTasks, type DiscoveredTask } from './plugin/discover.js'
import { DuplicateTaskError, TooLateError } from './core/errors.js'
import { resolveOptions } from './plugin/options.js'
import { Scheduler } from './plugin/scheduler.js'
import { guardStore } from './plugin/stores/guard.js'
import { sqliteStore } from './plugin/stores/sqlite/index.js'
import type { SchedulerApi, SchedulerOptions, TaskInput } from './plugin/types.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The scheduler: `tick(now?)`, `run(name, { force })`, `list()`, `history(query)`, `add(task)`. */
    scheduler: SchedulerApi
  }
}

interface PendingTask {
  exported: unknown
  source: string
  fileName?: string
}

/** Turn discovered files and given tasks into resolved tasks; duplicate names fail, naming both sources. */
function resolveAll (app: FastifyInstance, pending: readonly PendingTask[], timezone: string | undefined): ResolvedTask[] {
  const byName = new Map<string, ResolvedTask>()
  for (const entry of pending) {
    const task = resolveTask(entry.exported, {
      source: entry.source,
      ...(entry.fileName !== undefined ? { fileName: entry.fileName } : {}),
      app,
      ...(timezone !== undefined ? { timezone } : {}),
      warn: message => app.log.warn({ source: entry.source }, message)
    })
    const existing = byName.get(task.name)
    if (existing !== undefined) throw new DuplicateTaskError(task.name, existing.source, task.source)
    byName.set(task.name, task)
  }
  return [...byName.values()]
}

const plugin: FastifyPluginAsync<SchedulerOptions> = async (app, options) => {
  const opts = resolveOptions(options)
  const auth = opts.prefix === false
    ? undefined
    : resolveAuth(opts.auth, { env: process.env, allowQueryToken: opts.allowQueryToken, log: app.log })
  const ownStore = opts.store ?? sqliteStore()
  // Every store call is bounded in time and coded (503) — also for third-party stores.
  const store = guardStore(ownStore, opts.storeTimeoutMs)

  // Import task files now so a broken file fails the boot early; construct them at ready.
  const discovered: DiscoveredTask[] = opts.dir === false ? [] : await discoverTasks(opts.dir, opts.dirExplicit)
  const pending: PendingTask[] = [...discovered]
  opts.tasks.forEach((exported, i) => pending.push({ exported, source: `options.tasks[${i}]` }))
  let ready = false

  const scheduler = new Scheduler({
    app,
    store,
    log: app.log,
    clock: opts.clock,
    leaseMs: opts.leaseMs,
    historyLimit: opts.historyLimit,
    closeGraceMs: opts.closeGraceMs,
    expectTickEveryMs: opts.expectTickEveryMs,
    maxClockSkewMs: opts.maxClockSkewMs,
    lateResultGraceMs: opts.lateResultGraceMs,
    maxPayloadSize: opts.maxPayloadSize,
    retries: opts.retries,
    addTask: (task: TaskInput) => {
      if (ready) throw new TooLateError('app.scheduler.add()')
      pending.push({ exported: task, source: `scheduler.add() #${pending.length - discovered.length - opts.tasks.length + 1}` })
    }
  })
  app.decorate('scheduler', scheduler as SchedulerApi)

  if (opts.prefix !== false && auth !== undefined) {
    await app.register(scheduleRoutes, {
      prefix: opts.prefix,
      scheduler,
      auth,
      allowGetTrigger: opts.allowGetTrigger,
      maxWaitMs: opts.maxWaitMs,
      maxPayloadSize: opts.maxPayloadSize,
      expectTickEveryMs: opts.expectTickEveryMs,
      ui: opts.ui
    })
  }

  app.addHook('onReady', async () => {
    ready = true
    scheduler.start(resolveAll(app, pending, opts.timezone))
    try {
      await scheduler.ensureStore()
    } catch (err) {
      // A network store that is down at boot is not fatal: ticks answer 503 until it is back.
      // An embedded store that cannot open (bad path, permissions) is a configuration error.
      if (!store.durable || store.kind === 'sqlite') throw err
      app.log.error({ err, store: store.kind }, 'fastify-scheduler: the store is unreachable; ticks will answer 503 until it is back')
    }
    app.log.info({ tasks: scheduler.taskNames.length, store: store.kind }, 'fastify-scheduler ready')
  })

  app.addHook('onClose', async () => {
    await scheduler.close()
    // A store that cannot close cleanly (a dropped connection) must not fail the app's close.
    await store.close().catch((err: unknown) => app.log.warn({ err, store: store.kind }, 'fastify-scheduler: the store did not close cleanly'))
  })
}

/**
 * The plugin. Register it with `app.register(fastifyScheduler, options)`; it finds task files
 * in `tasks/`, decorates `app.scheduler` and serves the `/_schedule` routes.
 *
 * @example
 * ```ts
 * // app.ts: the app as a plugin, so the CLI and server.ts both load it
 * import type { FastifyInstance } from 'fastify'
 * import fastifyScheduler from 'fastify-scheduler'
 *
 * export default async function app (fastify: FastifyInstance) {
 *   await fastify.register(fastifyScheduler, {
 *     dir: new URL('./tasks', import.meta.url).pathname,
 *     timezone: 'Europe/Berlin',
 *     auth: { tokens: [process.env.SCHEDULE_TOKEN!] }
 *   })
 * }
 * ```
 */
export const fastifyScheduler = fp(plugin, { fastify: '5.x', name: 'fastify-scheduler' })
export default fastifyScheduler
