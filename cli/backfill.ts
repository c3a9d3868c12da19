/**
 * `fastify-scheduler backfill TASK --from ISO --to ISO` (docs/PAYLOADS.md#backfills): store a
 * backfill of TASK's past occurrences through `app.scheduler.backfill()`; the ticks of any
 * replica (or of `fastify-scheduler run` from cron) run them, oldest first, one per tick.
 */
import { InvalidInputError } from '../core/errors.js'
import type { BackfillAnswer } from '../plugin/types.js'
import { CliError, EXIT, parseCommandArgs, printAnswer, type Command } from './common.js'
import { APP_OPTIONS, appHelp, loadApp } from './load-app.js'

export const backfillHelp = `Usage: fastify-scheduler backfill TASK --from INSTANT --to INSTANT [--app PATH] [--json]

Run every occurrence of TASK's schedule from --from to --to (both included, ISO 8601, not
in the future) once, oldest first: the backfill is kept in the store, and each tick of any
replica runs its next occurrence. Occurrences that already have a run are skipped, not
rerun; the same backfill sent twice is one backfill. A range of more than maxBackfill
occurrences (plugin option, default 1000) is refused.

Options:
  --from INSTANT  the range's first instant, e.g. 2026-05-01T00:00Z
  --to INSTANT    the range's last instant
  --app PATH      the app module (see below)
  --json          print the answer as JSON (as POST <prefix>/tasks/TASK/backfill answers it)
  --verbose       log at info level (stderr)

Exit codes: 0 ok, 2 usage error, unknown task or refused range, 3 the app failed to load or boot, 4 the store is unavailable.

${appHelp}
`

export function formatBackfill (answer: BackfillAnswer): string {
  const what = answer.created ? 'backfill accepted' : 'the same backfill is already in progress'
  return `${what}: task "${answer.task}", ${answer.occurrences} occurrence${answer.occurrences === 1 ? '' : 's'} from ${answer.from} to ${answer.to}` +
    ` (id ${answer.id}; ${answer.done} done, ${answer.skipped} skipped; next ${answer.next ?? 'none'}); each tick runs the next one\n`
}

function instant (name: string, value: string | undefined): Date {
  if (value === undefined) throw new CliError(`backfill: --${name} is required (an ISO 8601 instant)`, EXIT.usage)
  const date = new Date(value)
  if (Number.isNaN(date.getTime())) throw new CliError(`backfill: --${name} must be an ISO 8601 instant (got "${value}")`, EXIT.usage)
  return date
}

async function backfillMain (args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('backfill', args, {
    ...APP_OPTIONS,
    from: { type: 'string' },
    to: { type: 'string' },
    json: { type: 'boolean' }
  }, true)
  if (positionals.length !== 1) throw new CliError(`backfill: name one task (got ${positionals.length})`, EXIT.usage)
  const from = instant('from', values.from)
  const to = instant('to', values.to)
  const loaded = await loadApp({ app: values.app, verbose: values.verbose })
  try {
    const answer = await loaded.app.scheduler.backfill(positionals[0]!, { from, to })
    printAnswer(values.json, answer, formatBackfill)
    return EXIT.ok
  } catch (err) {
    if (err instanceof InvalidInputError) throw new CliError(err.message, EXIT.usage)
    throw err
  } finally {
    await loaded.close()
  }
}

export const backfillCommand: Command = { help: backfillHelp, main: backfillMain }
