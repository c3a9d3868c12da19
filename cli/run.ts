/**
 * `fastify-scheduler run`: boot the app without listening, tick once, wait for the runs,
 * print what happened, exit 1 if any run failed (the original `craft schedule:run`).
 */
import type { RunOutcome } from '../plugin/types.js'
import { CliError, EXIT, formatDuration, formatTable, parseCommandArgs, printAnswer, type Command } from './common.js'
import { APP_OPTIONS, appHelp, loadApp } from './load-app.js'

export const help = `Usage: fastify-scheduler run [--app PATH] [--task NAME]... [--force] [--json] [--verbose]

Boot the app (without listening), run every task that is due now, wait for the runs
to finish, print what happened and exit. Put it in a crontab to run once a minute.

Options:
  --app PATH     the app module (see below)
  --task NAME    only this task; repeat for several
  --force        run the tasks now, ignoring their schedule (all enabled tasks when no
                 --task is given); overlap rules still apply
  --json         print {"now", "runs": [...]} as JSON on stdout
  --verbose      log at info level (stderr)

Exit codes: 0 every run succeeded (or nothing was due), 1 a run failed or timed out,
2 usage error (unknown option or task), 3 the app failed to load or boot,
4 the store is unavailable or cannot be opened.

${appHelp}
`

/** Outcomes that make `run` exit 1. */
const FAILED: ReadonlySet<RunOutcome['status']> = new Set(['failed', 'timed_out'])

export function formatOutcomes (now: string, runs: readonly RunOutcome[]): string {
  if (runs.length === 0) return `nothing due at ${now}\n`
  return formatTable(['TASK', 'STATUS', 'DURATION', 'ERROR'], runs.map(run => [
    run.task,
    run.status,
    formatDuration(run.durationMs),
    run.error ?? (run.reason !== undefined ? `(${run.reason})` : '')
  ]))
}

async function main (args: string[]): Promise<number> {
  const { values } = parseCommandArgs('run', args, {
    ...APP_OPTIONS,
    task: { type: 'string', multiple: true },
    force: { type: 'boolean' },
    json: { type: 'boolean' }
  })
  const loaded = await loadApp({ app: values.app, verbose: values.verbose })
  // Ctrl-C / SIGTERM: closing the app aborts the running tasks' signals; their outcomes are still printed.
  const stop = (): void => { void loaded.close() }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  try {
    const scheduler = loaded.app.scheduler
    const unknown = values.task?.filter(name => !scheduler.taskNames.includes(name)) ?? []
    if (unknown.length > 0) {
      throw new CliError(`--task ${unknown.join(', ')}: no such task in ${loaded.file}. ` +
        `Tasks: ${scheduler.taskNames.join(', ') || '(none)'}`, EXIT.usage)
    }
    if (!scheduler.store.durable) {
      process.stderr.write('fastify-scheduler run: warning: the memory store forgets its state when this process exits, ' +
        'so each run starts afresh (no catch-up, no exactly-once between runs); use a durable store (SQLite is the default).\n')
    }
    const result = await scheduler.tick({
      trigger: 'cli',
      force: values.force === true,
      ...(values.task !== undefined ? { tasks: values.task } : {})
    })
    const runs = await result.settled
    printAnswer(values.json, { now: result.now, runs }, answer => formatOutcomes(answer.now, answer.runs))
    return runs.some(run => FAILED.has(run.status)) ? EXIT.runFailed : EXIT.ok
  } finally {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
    await loaded.close()
  }
}

export const runCommand: Command = {
  help,
  main
}
