/**
 * What every subcommand shares: exit codes, the usage error, argument parsing with
 * messages that name the option, and plain-text tables.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs, parseEnv, type ParseArgsConfig } from 'node:util'
import { StoreOpenError, StoreUnavailableError, UnknownTaskError } from '../core/errors.js'
import { suggest } from '../core/suggest.js'

/** Exit codes cron and scripts can rely on. */
export const EXIT = {
  ok: 0,
  /** A run failed or timed out. */
  runFailed: 1,
  /** Bad command line: unknown option, missing value, bad name, unknown task. */
  usage: 2,
  /** The app file was not found, did not load, or did not boot. */
  app: 3,
  /** The store could not be reached. */
  store: 4
} as const

/** An error the CLI prints as is (no stack) before exiting with `exitCode`. */
export class CliError extends Error {
  readonly exitCode: number
  constructor (message: string, exitCode: number, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'CliError'
    this.exitCode = exitCode
  }
}

/** One subcommand: its help text lives beside its code. */
export interface Command {
  /** The full `--help` text. */
  help: string
  /** Runs the command; resolves to the exit code. */
  main (args: string[]): Promise<number>
}

type Options = NonNullable<ParseArgsConfig['options']>
type WithHelp<O extends Options> = O & { help: { type: 'boolean', short: 'h' } }

/** What `parseCommandArgs` returns: `values` typed after the options, and `positionals`. */
export type CommandArgs<O extends Options> =
  ReturnType<typeof parseArgs<{ args: string[], options: WithHelp<O>, strict: true, allowPositionals: boolean }>>

/**
 * `util.parseArgs`, strict, with `--help` accepted (the dispatcher answers it before
 * `main` runs). Its errors become usage errors (exit 2) that name the command and the option.
 */
export function parseCommandArgs<O extends Options> (command: string, args: string[], options: O, allowPositionals = false): CommandArgs<O> {
  const withHelp: WithHelp<O> = { ...options, help: { type: 'boolean', short: 'h' } }
  try {
    return parseArgs({ args, options: withHelp, strict: true, allowPositionals })
  } catch (err) {
    const message = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '')
    throw new CliError(`${command}: ${message}${didYouMean(err, withHelp)}\n` +
      `Run \`fastify-scheduler ${command} --help\` for usage.`, EXIT.usage)
  }
}

/** ` (did you mean --task?)` for an unknown option close to an accepted one, else ''. */
function didYouMean (err: unknown, options: Options): string {
  if ((err as { code?: unknown }).code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return ''
  const given = /Unknown option '(--?[^'=]+)/.exec((err as Error).message)?.[1]
  if (given === undefined) return ''
  const guess = suggest(given.replace(/^-+/, ''), Object.keys(options))
  return guess === undefined ? '' : ` (did you mean --${guess}?)`
}

/** Exit code for an error thrown by the app or the scheduler. */
export function exitCodeOf (err: unknown): number {
  if (err instanceof CliError) return err.exitCode
  if (err instanceof StoreUnavailableError || err instanceof StoreOpenError) return EXIT.store
  if (err instanceof UnknownTaskError) return EXIT.usage
  return EXIT.app
}

/** Print a command's answer: as indented JSON with `--json`, else in the command's own text form. */
export function printAnswer<T> (json: boolean | undefined, answer: T, format: (answer: T) => string): void {
  process.stdout.write(json === true ? JSON.stringify(answer, null, 2) + '\n' : format(answer))
}

/** Columns padded to their widest cell; the last column is not padded. */
export function formatTable (headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map(row => (row[i] ?? '').length)))
  const line = (cells: readonly string[]): string =>
    cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ').trimEnd()
  return [line(headers), ...rows.map(line)].join('\n') + '\n'
}

/** `850 ms`, `12.3 s`, `4 min 05 s`. */
export function formatDuration (ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-'
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const seconds = Math.round(ms / 1000)
  return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`
}

/**
 * `--dotenv FILE` (or `--dotenv=FILE`), anywhere after the command (not `--env-file`: Node 20 reads that one from a script's arguments too): read the file's
 * `KEY=value` lines (dotenv syntax, Node's `util.parseEnv`) into `process.env`, leaving the
 * variables already set as they are, as `node --env-file` does. For cron, whose environment
 * has none of the shell's variables, and for the demo's `example-app/data/.env`. Returns the
 * arguments without the option.
 */
export function applyEnvFile (args: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const rest: string[] = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === '--') {
      rest.push(...args.slice(i))
      break
    }
    let file: string | undefined
    if (arg === '--dotenv') {
      file = args[++i]
      if (file === undefined || file.startsWith('-')) throw new CliError('--dotenv: expects a file, e.g. --dotenv .env', EXIT.usage)
    } else if (arg.startsWith('--dotenv=')) {
      file = arg.slice('--dotenv='.length)
    } else {
      rest.push(arg)
      continue
    }
    let text: string
    try {
      text = readFileSync(resolve(file), 'utf8')
    } catch (err) {
      throw new CliError(`--dotenv ${file}: cannot be read (${(err as { code?: string }).code ?? (err as Error).message})`, EXIT.usage)
    }
    for (const [key, value] of Object.entries(parseEnv(text))) {
      if (env[key] === undefined) env[key] = value
    }
  }
  return rest
}
