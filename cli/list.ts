/**
 * `fastify-scheduler list`: the listing (`app.scheduler.list()`) as an aligned table or JSON.
 */
import type { SchedulerListing, TaskListing } from '../plugin/types.js'
import { zoneFor } from '../tasks/zone.js'
import { EXIT, formatDuration, formatTable, parseCommandArgs, printAnswer, type Command } from './common.js'
import { APP_OPTIONS, appHelp, loadApp } from './load-app.js'

export const help = `Usage: fastify-scheduler list [--app PATH] [--json] [--verbose]

Print every task of the app: its name, schedule, next run, last run (status, when,
duration) and time zone. Times are shown in each task's time zone. Nothing runs.

Options:
  --app PATH     the app module (see below)
  --json         print the listing as JSON (the same document as GET /_schedule)
  --verbose      log at info level (stderr)

Exit codes: 0 ok, 2 usage error, 3 the app failed to load or boot, 4 the store is unavailable or cannot be opened.

${appHelp}
`

/** `2026-05-12 17:00` in the zone `timezone`. */
export function wallTime (iso: string, timezone: string): string {
  const utc = Date.parse(iso)
  return new Date(utc + zoneFor(timezone).offsetAt(utc)).toISOString().slice(0, 16).replace('T', ' ')
}

function lastRun (task: TaskListing): string {
  if (task.runningNow) return 'running now'
  if (task.lastRun === null) return 'never'
  const { status, startedAt, durationMs } = task.lastRun
  return `${status} ${wallTime(startedAt, task.timezone)}${durationMs !== null ? ` (${formatDuration(durationMs)})` : ''}`
}

function nextRun (task: TaskListing): string {
  if (!task.enabled) return 'disabled'
  if (task.manual) return 'manual only'
  return task.nextRun === null ? '-' : wallTime(task.nextRun, task.timezone)
}

export function formatListing (listing: SchedulerListing): string {
  const store = `${listing.store.kind}${listing.store.durable ? '' : ' (not durable: state is lost when the process exits)'}`
  const header = `store: ${store}\n`
  if (listing.tasks.length === 0) return `${header}no tasks\n`
  return header + formatTable(
    ['NAME', 'SCHEDULE', 'NEXT RUN', 'LAST RUN', 'TIME ZONE'],
    listing.tasks.map(task => [task.name, task.schedule, nextRun(task), lastRun(task), task.timezone])
  )
}

async function main (args: string[]): Promise<number> {
  const { values } = parseCommandArgs('list', args, {
    ...APP_OPTIONS,
    json: { type: 'boolean' }
  })
  const loaded = await loadApp({ app: values.app, verbose: values.verbose })
  try {
    const listing = await loaded.app.scheduler.list()
    printAnswer(values.json, listing, formatListing)
    return EXIT.ok
  } finally {
    await loaded.close()
  }
}

export const listCommand: Command = {
  help,
  main
}
