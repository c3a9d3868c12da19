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
import type { OverlapPolicy, ResolvedTask } from './tasks/types.js'
import { resolveAuth } from './routes/auth/index.js'
import { scheduleRoutes } from './routes/index.js'
import { discoverTasks, type DiscoveredTask } from './plugin/discover.js'
import { DuplicateTaskError, InvalidOptionError, StoreOpenError, TooLateError } from './core/errors.js'
import { combineObservers, safeObserver } from './plugin/observe.js'
import { createTracing, loadOtelApi } from './plugin/tracing.js'
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
function resolveAll (app: FastifyInstance, pending: readonly PendingTask[], timezone: string | undefined, overlap: OverlapPolicy): ResolvedTask[] {
  const byName = new Map<string, ResolvedTask>()
  for (const entry of pending) {
    const task = resolveTask(entry.exported, {
      source: entry.source,
      ...(entry.fileName !== undefined ? { fileName: entry.fileName } : {}),
      app,
      ...(timezone !== undefined ? { timezone } : {}),
      overlap,
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
  // Metrics and spans (docs/OBSERVABILITY.md): the gauges read the cluster through the
  // scheduler's listing, on scrape only.
  // Without routes and without the app's registry nobody could read them: not even loaded.
  const metrics = opts.metrics === false || (opts.prefix === false && opts.metrics.registry === undefined)
    ? undefined
    : (await import('./plugin/metrics.js')).createMetrics({
        registry: opts.metrics.registry,
        cluster: recent => scheduler.list({ recent }),
        clock: () => Date.now(),
        log: app.log
      })
  const otel = opts.tracing === false ? undefined : await loadOtelApi()
  if (opts.tracing === true && otel === undefined) throw new InvalidOptionError('tracing: true needs the package @opentelemetry/api, which does not resolve from fastify-scheduler (install it, or leave tracing unset)')
  const observer = safeObserver(
    combineObservers([metrics?.observer, otel === undefined ? undefined : createTracing(otel)]),
    (err, what) => app.log.warn({ err, what }, 'fastify-scheduler: a metric or span could not be recorded')
  )
  // Every store call is bounded in time and coded (503) — also for third-party stores.
  const store = guardStore(ownStore, opts.storeTimeoutMs, observer)
  if (auth?.qstash !== undefined && typeof store.claimOnce !== 'function') {
    throw new InvalidOptionError(`auth.qstash needs a store with claimOnce() to refuse replayed signatures; the ${store.kind} store has none`)
  }

  // Import task files now so a broken file fails the boot early; construct them at ready.
  const discovered: DiscoveredTask[] = opts.dir === false ? [] : await discoverTasks(opts.dir, opts.dirExplicit)
  const pending: PendingTask[] = [...discovered]
  opts.tasks.forEach((exported, i) => pending.push({ exported, source: `options.tasks[${i}]` }))
  let ready = false

  const scheduler = new Scheduler({
    app,
    store,
    observer,
    log: app.log,
    clock: opts.clock,
    leaseMs: opts.leaseMs,
    historyLimit: opts.historyLimit,
    closeGraceMs: opts.closeGraceMs,
    expectTickEveryMs: opts.expectTickEveryMs,
    maxClockSkewMs: opts.maxClockSkewMs,
    lateResultGraceMs: opts.lateResultGraceMs,
    maxPayloadSize: opts.maxPayloadSize,
    maxBackfill: opts.maxBackfill,
    retries: opts.retries,
    pauseOnFailure: opts.pauseOnFailure,
    runOutput: opts.runOutput,
    failingTasksUnhealthy: opts.failingTasksUnhealthy,
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
      claimOnce: async (key, until) => {
        await scheduler.ensureStore()
        return await store.claimOnce!(key, until)
      },
      allowGetTrigger: opts.allowGetTrigger,
      maxWaitMs: opts.maxWaitMs,
      maxPayloadSize: opts.maxPayloadSize,
      expectTickEveryMs: opts.expectTickEveryMs,
      ui: opts.ui,
      metrics: metrics === undefined || opts.metrics === false ? undefined : { registry: metrics.registry, auth: opts.metrics.auth }
    })
  }

  app.addHook('onReady', async () => {
    ready = true
    scheduler.start(resolveAll(app, pending, opts.timezone, opts.overlap))
    try {
      await scheduler.ensureStore()
    } catch (err) {
      // At boot no tick was asked for: the error names the store and why, never "no task ran".
      const why = err instanceof StoreOpenError ? err : ((err as Error).cause ?? err)
      // A network store that is down at boot is not fatal: ticks answer 503 until it is back.
      // An embedded store that cannot open (bad path, permissions, a lock held) fails the boot.
      if (!store.durable || store.kind === 'sqlite') {
        if (err instanceof StoreOpenError) throw err
        const failure = new StoreOpenError(`the ${store.kind} store could not be opened at boot: ${(why as Error).message ?? String(why)}`)
        failure.cause = why
        throw failure
      }
      app.log.error({ err: why, store: store.kind }, 'fastify-scheduler: the store is unreachable at boot; ticks will answer 503 until it is back')
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
