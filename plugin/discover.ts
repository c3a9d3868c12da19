/**
 * Task discovery: import every task file under the tasks folder.
 *
 * Why not @fastify/autoload: it loads Fastify plugins and silently skips modules whose
 * export is not a plugin (a Task class or a defineTask object is not), and it registers
 * what it loads — we need the export itself, constructed later with the app. The rules
 * below follow its `find-plugins` (no `.d.ts`, stable order, TypeScript detection, the path
 * in every error), but every file that is not ignored must export a task, or the boot fails.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { basename, extname, join, relative, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { InvalidOptionError, InvalidTaskError } from '../core/errors.js'
import { isTaskLike } from '../tasks/resolve.js'

/** A module found in the tasks folder, before it is resolved into a task. */
export interface DiscoveredTask {
  /** Path relative to the working directory, for messages. */
  source: string
  /** The file name, which gives the default task name. */
  fileName: string
  /** What the module exports as its task. */
  exported: unknown
}

const SCRIPT = new Set(['.js', '.mjs', '.cjs'])
const TYPESCRIPT = new Set(['.ts', '.mts', '.cts'])

/** A line (1-based) and a column (1-based, when known) in a file. */
interface Location { line: number, column?: number }

/**
 * Where `text` (an error's stack or message, or `node --check`'s report) places an error in
 * `file`: `file:line:column` (a stack frame, esbuild's report), or `file:line` followed by
 * the source line and a caret line (Node's report of a syntax error, which the column comes from).
 */
export function locationIn (file: string, text: string): Location | undefined {
  for (const name of [pathToFileURL(file).href, file]) {
    for (let from = text.indexOf(`${name}:`); from !== -1; from = text.indexOf(`${name}:`, from + 1)) {
      const found = /^:(\d+)(?::(\d+))?/.exec(text.slice(from + name.length))
      if (found === null) continue
      if (found[2] !== undefined) return { line: Number(found[1]), column: Number(found[2]) }
      const caret = text.slice(from).split('\n')[2]
      if (caret !== undefined && /^\s*\^+\s*$/.test(caret)) return { line: Number(found[1]), column: caret.indexOf('^') + 1 }
      return { line: Number(found[1]) }
    }
  }
  return undefined
}

/**
 * Where a task file failed to load: from the error's stack or message; for a syntax error in
 * a JavaScript file whose stack has no location (Node leaves it out of an `import()`'s
 * SyntaxError), from `node --check`, run only then, bounded to 5 s.
 */
function locationOf (file: string, err: unknown): Location | undefined {
  const text = err instanceof Error ? `${err.stack ?? ''}\n${err.message}` : String(err)
  const found = locationIn(file, text)
  if (found !== undefined || !(err instanceof SyntaxError) || !SCRIPT.has(extname(file))) return found
  try {
    execFileSync(process.execPath, ['--check', file], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 5000, encoding: 'utf8' })
  } catch (checked) {
    return locationIn(file, String((checked as { stderr?: unknown }).stderr ?? ''))
  }
  return undefined
}

/** Files that are never tasks: declarations, tests, and names starting with `.` or `_`. */
function ignored (name: string): boolean {
  return name.startsWith('.') || name.startsWith('_') ||
    /\.d\.[mc]?ts$/.test(name) || /\.(test|spec)\.[mc]?[jt]s$/.test(name) || name.endsWith('.map')
}

/**
 * True when this process can import `.ts` files: a TypeScript loader (tsx, ts-node,
 * Node's type stripping) is active, or `FASTIFY_AUTOLOAD_TYPESCRIPT` says so.
 */
export function typescriptSupported (): boolean {
  const env = process.env
  if (env.FASTIFY_AUTOLOAD_TYPESCRIPT === '1' || env.FASTIFY_AUTOLOAD_TYPESCRIPT === 'true') return true
  if (Symbol.for('ts-node.register.instance') in process) return true
  const flags = `${env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`
  if (/tsx|ts-node|strip-types|@swc-node|esbuild-register|@tapjs\/typescript/.test(flags)) return true
  if (env.TS_NODE_DEV !== undefined || env.TS_JEST !== undefined || env.VITEST !== undefined) return true
  return (process as { features?: { typescript?: unknown } }).features?.typescript !== undefined &&
    (process as { features?: { typescript?: unknown } }).features?.typescript !== false
}

/** Every candidate task file under `dir`, sorted by path so the order never changes. */
export function findTaskFiles (dir: string): string[] {
  const files: string[] = []
  const walk = (folder: string): void => {
    const entries = readdirSync(folder, { withFileTypes: true })
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    for (const entry of entries) {
      if (ignored(entry.name) || entry.name === 'node_modules') continue
      const path = join(folder, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (SCRIPT.has(extname(entry.name)) || TYPESCRIPT.has(extname(entry.name))) files.push(path)
    }
  }
  walk(dir)
  return files
}

/** The task a module exports: its default export (unwrapping a CommonJS `exports.default`). */
function taskExport (mod: Record<string, unknown>): unknown {
  let exported = mod.default
  if (exported !== null && typeof exported === 'object' && 'default' in exported &&
      (exported as { __esModule?: boolean }).__esModule === true) {
    exported = (exported as { default: unknown }).default
  }
  return exported
}

/**
 * Import every task file under `dir`. `explicit` says whether the user named the folder:
 * a missing default folder means "no tasks", a missing named one fails the boot.
 */
export async function discoverTasks (dir: string, explicit: boolean): Promise<DiscoveredTask[]> {
  const root = resolve(dir)
  if (!existsSync(root)) {
    if (explicit) throw new InvalidOptionError(`dir: the tasks folder ${root} does not exist`)
    return []
  }
  if (!statSync(root).isDirectory()) throw new InvalidOptionError(`dir: ${root} is not a folder`)
  const canImportTs = typescriptSupported()
  const found: DiscoveredTask[] = []
  for (const file of findTaskFiles(root)) {
    const source = relative(process.cwd(), file) || file
    if (TYPESCRIPT.has(extname(file)) && !canImportTs) {
      throw new InvalidTaskError(`${source}: a TypeScript task file, but no TypeScript loader is active. ` +
        'Run the app with tsx (node --import tsx) or compile the tasks to JavaScript; ' +
        'set FASTIFY_AUTOLOAD_TYPESCRIPT=1 if your loader is not detected.')
    }
    let mod: Record<string, unknown>
    try {
      mod = await import(pathToFileURL(file).href) as Record<string, unknown>
    } catch (err) {
      const reason = err instanceof Error ? `${err.name === 'SyntaxError' ? 'SyntaxError: ' : ''}${err.message}` : String(err)
      const at = locationOf(file, err)
      const where = at === undefined ? source : `${source}:${at.line}${at.column === undefined ? '' : `:${at.column}`}`
      const error = new InvalidTaskError(`${where}: could not be loaded: ${reason}`)
      error.cause = err
      throw error
    }
    const exported = taskExport(mod)
    if (exported === undefined) {
      throw new InvalidTaskError(`${source}: no default export. Export a task: ` +
        '`export default class X extends Task { ... }` or `export default defineTask({ ... })`.')
    }
    if (!isTaskLike(exported)) {
      throw new InvalidTaskError(`${source}: the default export is not a task (it is ${describeValue(exported)}). ` +
        'Export a Task subclass, or defineTask({ ..., handle (ctx) { ... } }).')
    }
    found.push({ source, fileName: basename(file), exported })
  }
  return found
}

function describeValue (value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'function') return `a function${value.name !== '' ? ` named ${value.name}` : ''} with no handle method`
  if (typeof value === 'object') return 'an object with no handle function'
  return `a ${typeof value}`
}
