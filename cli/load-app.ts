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
import { CliError, EXIT } from './common.js'

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
 */
export async function enableTypeScript (): Promise<void> {
  process.env.FASTIFY_AUTOLOAD_TYPESCRIPT = '1'
  if (typescriptRegistered || /(^|\s|\/|=)tsx(\/|\s|$)|tsx\/dist/.test(`${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`)) return
  const [esm, cjs] = await Promise.all([import('tsx/esm/api'), import('tsx/cjs/api')])
  esm.register()
  cjs.register()
  typescriptRegistered = true
}

export interface LoadAppOptions {
  /** `--app` as given. */
  app?: string
  /** `--verbose`: log at info instead of warn. */
  verbose?: boolean
  cwd?: string
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

/**
 * Import the app, build it, and make it ready. Every failure is a CliError naming the file:
 * exit 3 (not found, does not load, does not boot, no scheduler) or 4 (store unavailable).
 */
export async function loadApp (options: LoadAppOptions = {}): Promise<LoadedApp> {
  const cwd = options.cwd ?? process.cwd()
  const file = findAppFile(options.app, cwd)
  const shown = relative(cwd, file) || file
  if (TYPESCRIPT.has(extname(file))) await enableTypeScript()
  process.env.SCHEDULE_TOKEN ??= randomBytes(32).toString('hex')

  let mod: Exports
  try {
    mod = await import(pathToFileURL(file).href) as Exports
  } catch (err) {
    throw new CliError(`${shown}: could not be loaded: ${(err as Error).message ?? String(err)}`, EXIT.app, { cause: err })
  }

  const serverOptions: FastifyServerOptions = {
    logger: { level: options.verbose === true ? 'info' : 'warn', stream: process.stderr }
  }
  let app: FastifyInstance | undefined
  try {
    app = await instantiate(mod, shown, serverOptions)
    await app.ready()
  } catch (err) {
    await app?.close().catch(() => {})
    if (err instanceof CliError) throw err
    const code = (err as { code?: string }).code
    const exitCode = code === 'FST_SCHEDULER_STORE_UNAVAILABLE' ? EXIT.store : EXIT.app
    const reason = ((err as Error).message ?? String(err)).replace(/^fastify-scheduler: /, '')
    throw new CliError(`${shown}: the app failed to boot: ${reason}`, exitCode, { cause: err })
  }

  if (app.scheduler === undefined) {
    await app.close()
    throw new CliError(`${shown}: the app booted, but app.scheduler is missing. Register fastify-scheduler in the app ` +
      '(wrapped with fastify-plugin if it is registered inside another plugin), so it decorates the root instance.', EXIT.app)
  }
  let closing: Promise<void> | undefined
  const ready = app
  return { app: ready, file, close: () => (closing ??= ready.close()) }
}
