/**
 * Find and boot the user's app, as fastify-cli does, without listening.
 *
 * The app module either default-exports a Fastify plugin (registered, wrapped with
 * fastify-plugin so its decorators — `app.scheduler` — land on a fresh root instance) or
 * exports a `build()` / `buildApp()` function that returns a Fastify instance (or a promise
 * of one). TypeScript apps load without flags: tsx is registered before the import.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, statSync } from 'node:fs'
import { extname, join, relative, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import { withDeadline } from '../core/deadline.js'
import { StoreOpenError, StoreUnavailableError } from '../core/errors.js'
import { CliError, EXIT } from './common.js'
import { guardListen, type ListenGuard } from './listen-guard.js'

/** Where the app is looked for, in this order, when `--app` is not given (or names a folder). */
export const APP_SEARCH_ORDER: readonly string[] = [
  'app.ts', 'app.mts', 'app.cts', 'app.js', 'app.mjs', 'app.cjs',
  'src/app.ts', 'src/app.mts', 'src/app.cts', 'src/app.js', 'src/app.mjs', 'src/app.cjs',
  'dist/app.js', 'dist/app.mjs', 'dist/app.cjs'
]

/** The options of every command that loads the app. */
export const APP_OPTIONS = {
  app: { type: 'string' },
  verbose: { type: 'boolean' }
} as const

const TYPESCRIPT = new Set(['.ts', '.mts', '.cts'])

/** `names` as comma-separated lines of at most `width` characters, each indented. */
function wrapList (names: readonly string[], indent: string, width = 88): string {
  const lines = ['']
  for (const name of names) {
    const line = lines[lines.length - 1]
    const item = `${name},`
    if (line !== '' && indent.length + line.length + 1 + item.length > width) lines.push(item)
    else lines[lines.length - 1] = line === '' ? item : `${line} ${item}`
  }
  return lines.map(line => indent + line).join('\n').replace(/,$/, '')
}

export const appHelp = `App loading (--app PATH):
  PATH is the app module, or a folder to search. Without --app the current folder is
  searched in this order:
${wrapList(APP_SEARCH_ORDER, '    ')}
  The module either default-exports a Fastify plugin (registered on a fresh
  Fastify({ logger }) instance, like fastify-cli; an exported \`options\` object is passed
  as its plugin options) or exports build() / buildApp() returning a Fastify instance
  (called with { logger }). TypeScript apps (.ts/.mts/.cts) load through tsx, no flag
  needed. The app is made ready but never listens. Logs go to stderr at level warn
  (--verbose: info). When SCHEDULE_TOKEN is unset, a random one is set for this process:
  nothing listens, so no route is reachable, and an app relying on it still boots.`

/** The app file: `--app` (a file, or a folder to search) or the first of APP_SEARCH_ORDER in `cwd`. */
export function findAppFile (app: string | undefined, cwd = process.cwd()): string {
  if (app !== undefined) {
    const path = resolve(cwd, app)
    if (!existsSync(path)) throw new CliError(`--app ${app}: no such file (${path})`, EXIT.app)
    if (!statSync(path).isDirectory()) return path
    const found = searchFolder(path)
    if (found === undefined) {
      throw new CliError(`--app ${app}: the folder ${path} has none of ${APP_SEARCH_ORDER.join(', ')}`, EXIT.app)
    }
    return found
  }
  const found = searchFolder(cwd)
  if (found === undefined) {
    throw new CliError(`no app found in ${cwd}: looked for ${APP_SEARCH_ORDER.join(', ')}. ` +
      'Pass --app PATH (a module that default-exports a Fastify plugin or exports build()).', EXIT.app)
  }
  return found
}

function searchFolder (folder: string): string | undefined {
  return APP_SEARCH_ORDER.map(name => join(folder, name)).find(path => existsSync(path) && statSync(path).isFile())
}

let typescriptRegistered = false

/**
 * Make `.ts` files importable: register tsx (ESM and CommonJS hooks) unless it is already
 * active, and tell @fastify/autoload and the scheduler's discovery that TypeScript loads.
 * tsx is an optional peer (only `.ts` apps need it), so its absence is explained, not a stack.
 */
export async function enableTypeScript (shown = 'the app'): Promise<void> {
  process.env.FASTIFY_AUTOLOAD_TYPESCRIPT = '1'
  if (typescriptRegistered || /(^|\s|\/|=)tsx(\/|\s|$)|tsx\/dist/.test(`${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`)) return
  let apis: [typeof import('tsx/esm/api'), typeof import('tsx/cjs/api')]
  try {
    apis = await Promise.all([import('tsx/esm/api'), import('tsx/cjs/api')])
  } catch (err) {
    const { code, message } = err as { code?: string, message?: string }
    if (code !== 'ERR_MODULE_NOT_FOUND' || !/'tsx'/.test(message ?? '')) throw err
    throw new CliError(`${shown} is TypeScript: install tsx to load a .ts app (npm install --save-dev tsx), ` +
      'or compile the app and pass --app with the .js file.', EXIT.app, { cause: err })
  }
  const [esm, cjs] = apis
  esm.register()
  cjs.register()
  typescriptRegistered = true
}

export interface LoadAppOptions {
  /** `--app` as given. */
  app?: string | undefined
  /** `--verbose`: log at info instead of warn. */
  verbose?: boolean | undefined
  cwd?: string | undefined
}

export interface LoadedApp {
  app: FastifyInstance
  /** Absolute path of the app module. */
  file: string
  /** Closes the app once, however many times it is called. */
  close (): Promise<void>
}

function isFastifyInstance (value: unknown): value is FastifyInstance {
  const candidate = value as Partial<FastifyInstance> | null
  return typeof candidate === 'object' && candidate !== null &&
    typeof candidate.ready === 'function' && typeof candidate.register === 'function' && typeof candidate.close === 'function'
}

type Exports = Record<string, unknown>

/** What the app module offers; CommonJS `module.exports` arrives as `default`. */
function appExports (mod: Exports): { build: unknown, plugin: unknown, options: unknown } {
  const def = mod.default as Exports | undefined
  const cjs = def !== null && (typeof def === 'object' || typeof def === 'function') ? def : {}
  return {
    build: [mod.build, mod.buildApp, cjs.build, cjs.buildApp].find(fn => typeof fn === 'function'),
    plugin: def !== null && typeof def === 'object' ? cjs.default : def,
    options: mod.options ?? cjs.options
  }
}

async function instantiate (mod: Exports, shown: string, serverOptions: FastifyServerOptions): Promise<FastifyInstance> {
  const { build, plugin, options } = appExports(mod)
  if (typeof build === 'function') {
    const app = await (build as (options: FastifyServerOptions) => unknown)(serverOptions)
    if (!isFastifyInstance(app)) {
      throw new CliError(`${shown}: build() did not return a Fastify instance (it returned ${describe(app)})`, EXIT.app)
    }
    return app
  }
  if (typeof plugin !== 'function') {
    throw new CliError(`${shown}: exports neither a default Fastify plugin nor a build() / buildApp() function ` +
      `(default export: ${describe(plugin)})`, EXIT.app)
  }
  const app = Fastify(serverOptions)
  // fastify-plugin keeps the app's decorators (app.scheduler) on this root instance.
  await app.register(fp(plugin as Parameters<typeof fp>[0]), (options ?? {}) as Record<string, unknown>)
  return app
}

function describe (value: unknown): string {
  if (value === null) return 'null'
  if (value === undefined) return 'undefined'
  if (typeof value === 'function') return 'a function'
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`
}

/** The answer to a module that calls listen() while the CLI loads it: how to split it. */
export function listensMessage (shown: string): string {
  return `${shown}: calls listen() when it is loaded, so it is a server script, not an app the CLI can ` +
    'load (the CLI boots the app without serving it; no server was started). Split it in two files:\n' +
    '  app.ts     export default async function app (fastify) { await fastify.register(fastifyScheduler, { ... }) }\n' +
    '             (or export build() returning the Fastify instance; in CommonJS: module.exports = app)\n' +
    '  server.ts  import Fastify from \'fastify\'; import app from \'./app.js\'\n' +
    '             const server = Fastify({ logger: true }); await server.register(app); await server.listen({ port: 3000 })\n' +
    'and point --app at app.ts. See "Usage" in the fastify-scheduler README.'
}

/** Thrown inside loadApp when the guard saw listen(); becomes the message above. */
class ListenedError extends Error {}

/** Close instances the app module created for itself, without waiting on one that hangs. */
async function closeQuietly (instances: readonly FastifyInstance[]): Promise<void> {
  if (instances.length === 0) return
  await withDeadline(Promise.allSettled(instances.map(async instance => await instance.close())), 2000, { unref: true })
}

/**
 * A module that exports nothing usable but created Fastify instances may call listen() once
 * they are ready (`app.listen(...)` not awaited, as CommonJS scripts do): wait for that.
 */
async function listensOnceReady (mod: Exports, created: readonly FastifyInstance[], guard: ListenGuard): Promise<boolean> {
  const { build, plugin } = appExports(mod)
  if (typeof build === 'function' || typeof plugin === 'function' || created.length === 0) return guard.listenCalled
  const settled = Promise.allSettled(created.map(async instance => await instance.ready()))
    .then(async () => await new Promise(resolve => setImmediate(resolve)))
  await Promise.race([guard.attempted, settled])
  return guard.listenCalled
}

/**
 * Import the app, build it, and make it ready. Every failure is a CliError naming the file:
 * exit 3 (not found, does not load, calls listen(), does not boot, no scheduler) or 4 (store
 * unavailable). Nothing may listen meanwhile (see listen-guard.ts).
 */
export async function loadApp (options: LoadAppOptions = {}): Promise<LoadedApp> {
  const cwd = options.cwd ?? process.cwd()
  const file = findAppFile(options.app, cwd)
  const shown = relative(cwd, file) || file
  if (TYPESCRIPT.has(extname(file))) await enableTypeScript(shown)
  process.env.SCHEDULE_TOKEN ??= randomBytes(32).toString('hex')

  const guard = guardListen()
  const unlessListened = async <T>(step: PromiseLike<T>): Promise<T> =>
    await Promise.race([step, guard.attempted.then(() => { throw new ListenedError() })])
  // The instances the module created while it was imported; the CLI's own one comes later.
  let created: readonly FastifyInstance[] | undefined
  try {
    const mod = await importApp(file, shown, unlessListened)
    created = [...guard.instances]
    if (await listensOnceReady(mod, created, guard)) throw new ListenedError()
    return { ...await bootApp(mod, shown, options, unlessListened), file }
  } catch (err) {
    await closeQuietly(created ?? guard.instances)
    if (err instanceof ListenedError) throw new CliError(listensMessage(shown), EXIT.app)
    throw err
  } finally {
    guard.release()
  }
}

type Guarded = <T>(step: PromiseLike<T>) => Promise<T>

async function importApp (file: string, shown: string, unlessListened: Guarded): Promise<Exports> {
  try {
    return await unlessListened(import(pathToFileURL(file).href) as Promise<Exports>)
  } catch (err) {
    if (err instanceof ListenedError) throw err
    throw new CliError(`${shown}: could not be loaded: ${(err as Error).message ?? String(err)}`, EXIT.app, { cause: err })
  }
}

async function bootApp (mod: Exports, shown: string, options: LoadAppOptions, unlessListened: Guarded): Promise<Omit<LoadedApp, 'file'>> {
  const serverOptions: FastifyServerOptions = {
    logger: { level: options.verbose === true ? 'info' : 'warn', stream: process.stderr }
  }
  let app: FastifyInstance | undefined
  try {
    app = await unlessListened(instantiate(mod, shown, serverOptions))
    await unlessListened(app.ready())
  } catch (err) {
    await app?.close().catch(() => {})
    if (err instanceof CliError || err instanceof ListenedError) throw err
    const exitCode = err instanceof StoreUnavailableError || err instanceof StoreOpenError ? EXIT.store : EXIT.app
    const reason = (err as Error).message ?? String(err)
    throw new CliError(`${shown}: the app failed to boot: ${reason}`, exitCode, { cause: err })
  }

  if (app.scheduler === undefined) {
    await app.close()
    throw new CliError(`${shown}: the app booted, but app.scheduler is missing. Register fastify-scheduler in the app ` +
      '(wrapped with fastify-plugin if it is registered inside another plugin), so it decorates the root instance.', EXIT.app)
  }
  let closing: Promise<void> | undefined
  const ready = app
  return { app: ready, close: () => (closing ??= ready.close()) }
}
