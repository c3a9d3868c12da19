#!/usr/bin/env node
/**
 * The `fastify-scheduler` command: dispatch to one module per subcommand, `--help`,
 * `--version`. Exit codes: 0 ok, 1 a run failed or timed out, 2 usage error, 3 the app
 * failed to load or boot, 4 the store is unavailable or cannot be opened.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suggest } from '../core/suggest.js'
import { CliError, EXIT, applyEnvFile, exitCodeOf, type Command } from './common.js'

interface CommandEntry {
  name: string
  summary: string
  /** Commands load on demand: `--help`, `make:task` and `crontab` never import Fastify. */
  load: () => Promise<Command>
}

export const commands: readonly CommandEntry[] = [
  { name: 'run', summary: 'tick once: run the due tasks, print what ran, exit 1 if one failed', load: async () => (await import('./run.js')).runCommand },
  { name: 'list', summary: 'print every task with its schedule, next run and last run', load: async () => (await import('./list.js')).listCommand },
  { name: 'work', summary: 'tick at second 0 of every minute in-process (for hosts without cron)', load: async () => (await import('./work.js')).workCommand },
  { name: 'pause', summary: 'pause a task, or every task, for every replica', load: async () => (await import('./pause.js')).pauseCommand },
  { name: 'resume', summary: 'resume a paused task, or every task', load: async () => (await import('./pause.js')).resumeCommand },
  { name: 'backfill', summary: 'run a task\'s past occurrences in a range once, oldest first', load: async () => (await import('./backfill.js')).backfillCommand },
  { name: 'make:task', summary: 'write a task file from a template', load: async () => (await import('./make-task.js')).makeTaskCommand },
  { name: 'crontab', summary: 'print ready-to-paste crontab lines (curl form and CLI form)', load: async () => (await import('./crontab.js')).crontabCommand }
]

/** The options accepted before a command. */
const GLOBAL_OPTIONS: readonly string[] = ['--help', '--version']

export const help = `Usage: fastify-scheduler <command> [options]

Commands:
${commands.map(command => `  ${command.name.padEnd(10)} ${command.summary}`).join('\n')}

Options:
  -h, --help     show help (also: fastify-scheduler <command> --help)
  -v, --version  print the version

Every command also takes --dotenv FILE: the file's KEY=value lines are set in the
environment first (variables already set win), e.g. the demo's example-app/data/.env,
or an app's settings for a crontab line, where the shell's variables are not set.

Exit codes: 0 ok, 1 a run failed or timed out, 2 usage error, 3 the app failed to load
or boot, 4 the store is unavailable or cannot be opened.
`

/** The package's version, from the package.json above this file (source or dist/). */
export function version (): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dirname(dir) !== dir; dir = dirname(dir)) {
    const file = join(dir, 'package.json')
    if (!existsSync(file)) continue
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string, version?: string }
    if (pkg.name === 'fastify-scheduler' && pkg.version !== undefined) return pkg.version
  }
  return 'unknown'
}

/** Run the command line `args` (without node and the script); resolves to the exit code. */
export async function cli (args: string[]): Promise<number> {
  const [first, ...rest] = args
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    const topic = first === 'help' ? commands.find(command => command.name === rest[0]) : undefined
    process.stdout.write(topic !== undefined ? (await topic.load()).help : help)
    return first === undefined ? EXIT.usage : EXIT.ok
  }
  if (first === '--version' || first === '-v') {
    process.stdout.write(`${version()}\n`)
    return EXIT.ok
  }
  const entry = commands.find(candidate => candidate.name === first)
  if (entry === undefined) {
    const names = commands.map(command => command.name)
    const guess = suggest(first, first.startsWith('-') ? GLOBAL_OPTIONS : names)
    throw new CliError(`unknown ${first.startsWith('-') ? 'option' : 'command'} "${first}"` +
      `${guess === undefined ? '' : ` (did you mean ${guess}?)`}. Commands: ${names.join(', ')}. ` +
      'Run `fastify-scheduler --help` for usage.', EXIT.usage)
  }
  const command = await entry.load()
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(command.help)
    return EXIT.ok
  }
  return await command.main(applyEnvFile(rest))
}

function report (err: unknown): number {
  const exitCode = exitCodeOf(err)
  const message = err instanceof Error ? err.message : String(err)
  process.stderr.write(`fastify-scheduler: ${message}\n`)
  if (!(err instanceof CliError) && process.env.DEBUG !== undefined && err instanceof Error) process.stderr.write(`${err.stack ?? ''}\n`)
  return exitCode
}

/** True when this file is the process's entry (directly, or through the npm bin symlink). */
function isEntry (): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

if (isEntry()) {
  cli(process.argv.slice(2)).then(code => code, report).then(code => {
    process.exitCode = code
    // The app is closed by now; a handle it left open (a pool, a timer) must not keep cron's process alive.
    setTimeout(() => process.exit(code), 1000).unref()
  })
}
