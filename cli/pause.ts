/**
 * `fastify-scheduler pause` / `resume` (docs/PAUSE.md): pause or resume one task, or every
 * task (maintenance), for every replica, through `app.scheduler.pause()` / `resume()`.
 */
import type { PauseAnswer, ResumeAnswer } from '../plugin/types.js'
import { CliError, EXIT, parseCommandArgs, printAnswer, type Command } from './common.js'
import { APP_OPTIONS, appHelp, loadApp } from './load-app.js'

export const pauseHelp = `Usage: fastify-scheduler pause [TASK] [--reason TEXT] [--by NAME] [--app PATH] [--json]

Pause TASK for every replica (kept in the store), or every task when no TASK is named
(maintenance). No replica starts a paused task until it is resumed; its occurrences
meanwhile are not owed. A pause already in force is kept as it is.

Options:
  --reason TEXT  why (shown in the listing and the dashboard)
  --by NAME      who pauses (default "cli")
  --app PATH     the app module (see below)
  --json         print the answer as JSON (as POST <prefix>/pause answers it)
  --verbose      log at info level (stderr)

Exit codes: 0 ok, 2 usage error or unknown task, 3 the app failed to load or boot, 4 the store is unavailable.

${appHelp}
`

export const resumeHelp = `Usage: fastify-scheduler resume [TASK] [--catch-up] [--app PATH] [--json]

Lift the pause of TASK, or the pause of everything when no TASK is named (tasks paused on
their own stay paused). The occurrences the pause held back are recorded as one skipped
run per task; with --catch-up the latest of them runs once now.

Options:
  --catch-up     run the latest occurrence held back once (default: skip them all)
  --app PATH     the app module (see below)
  --json         print the answer as JSON (as POST <prefix>/resume answers it)
  --verbose      log at info level (stderr)

Exit codes: 0 ok, 2 usage error or unknown task, 3 the app failed to load or boot, 4 the store is unavailable.

${appHelp}
`

function oneTask (command: string, positionals: string[]): string | undefined {
  if (positionals.length > 1) throw new CliError(`${command}: name one task, or none for every task (got ${positionals.length})`, EXIT.usage)
  return positionals[0]
}

export function formatPause (answer: PauseAnswer): string {
  const what = answer.task === null ? 'every task' : `task "${answer.task}"`
  const { since, reason, by } = answer.paused
  return `${what} paused since ${since}${reason === null ? '' : `: ${reason}`}${by === null ? '' : ` (by ${by})`}\n`
}

export function formatResume (answer: ResumeAnswer): string {
  const what = answer.task === null ? 'every task' : `task "${answer.task}"`
  if (!answer.resumed) return `${what} was not paused: nothing changed\n`
  const lines = [`${what} resumed`]
  for (const skipped of answer.skipped) lines.push(`  ${skipped.task}: ${skipped.occurrences} occurrence${skipped.occurrences === 1 ? '' : 's'} skipped (${skipped.from} to ${skipped.to})`)
  for (const run of answer.runs) lines.push(`  ${run.task}: ${run.status} (${run.scheduledFor})`)
  return lines.join('\n') + '\n'
}

async function pauseMain (args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('pause', args, {
    ...APP_OPTIONS,
    reason: { type: 'string' },
    by: { type: 'string' },
    json: { type: 'boolean' }
  }, true)
  const task = oneTask('pause', positionals)
  const loaded = await loadApp({ app: values.app, verbose: values.verbose })
  try {
    const options = { by: values.by ?? 'cli', ...(values.reason !== undefined ? { reason: values.reason } : {}) }
    const answer = task === undefined ? await loaded.app.scheduler.pause(options) : await loaded.app.scheduler.pause(task, options)
    printAnswer(values.json, answer, formatPause)
    return EXIT.ok
  } finally {
    await loaded.close()
  }
}

async function resumeMain (args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('resume', args, {
    ...APP_OPTIONS,
    'catch-up': { type: 'boolean' },
    json: { type: 'boolean' }
  }, true)
  const task = oneTask('resume', positionals)
  const loaded = await loadApp({ app: values.app, verbose: values.verbose })
  try {
    const options = { catchUp: values['catch-up'] === true }
    const answer = task === undefined ? await loaded.app.scheduler.resume(options) : await loaded.app.scheduler.resume(task, options)
    // Wait for a caught-up run, as `run` does, so the process does not close under it.
    printAnswer(values.json, answer, formatResume)
    return EXIT.ok
  } finally {
    await loaded.close()
  }
}

export const pauseCommand: Command = { help: pauseHelp, main: pauseMain }
export const resumeCommand: Command = { help: resumeHelp, main: resumeMain }
