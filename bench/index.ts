/**
 * `npm run bench`: every benchmark, one after the other, as a table; `npm run bench -- --json`
 * prints one JSON object on stdout (progress goes to stderr). Every figure is a ratio to a
 * baseline measured in the same run (or, for the tick and the heap, an absolute figure
 * with its goal), with the goal and whether it is met. A benchmark that cannot run reports
 * null with the reason; the others still run.
 */
import { cpus, loadavg } from 'node:os'
import { BOOT_GOALS, benchBoot } from './boot.js'
import { benchClaims } from './claims.js'
import { CLI_GOALS, benchCli } from './cli.js'
import { HEAP_GOALS, benchHeap } from './heap.js'
import { HTTP_GOALS, benchHttp } from './http.js'
import { benchSchedule } from './schedule.js'
import { TICK_GOALS, benchTick } from './tick.js'
import { figure, goal, isMain, nowMs, orUnmeasured, printFigures, progress, round, type Figures } from './util.js'

const SCHEDULE_COMMAND = 'npx tsx bench/schedule.ts'
export const SCHEDULE_GOALS = {
  nextVsCroner: goal('<=', 0.5, '× (ours ÷ croner, worst attribute schedule)', SCHEDULE_COMMAND),
  previousVsCroner: goal('<=', 0.5, '× (ours ÷ croner next, worst attribute schedule)', SCHEDULE_COMMAND),
  cronNextVsCroner: goal('<=', 1, '× (ours ÷ croner, worst cron expression)', SCHEDULE_COMMAND)
}

/**
 * `next()` / `previous()` against croner, from bench/schedule.ts. That module reports
 * croner ÷ ours (the worst case of each group); here every ratio is ours ÷ baseline.
 */
async function benchScheduleFigures (): Promise<Figures> {
  progress('schedule: next() and previous() vs croner')
  const result = await benchSchedule()
  const rows = result.rows.map(row => ({
    schedule: row.name, timezone: row.timezone, nextNs: round(row.nextNs), previousNs: round(row.previousNs), cronerNextNs: round(row.cronerNextNs)
  }))
  return {
    nextVsCroner: figure(1 / result.nextVsCroner, SCHEDULE_GOALS.nextVsCroner, { rows }),
    previousVsCroner: figure(1 / result.previousVsCroner, SCHEDULE_GOALS.previousVsCroner),
    cronNextVsCroner: figure(1 / result.cronNextVsCroner, SCHEDULE_GOALS.cronNextVsCroner)
  }
}

export async function benchAll (): Promise<{ figures: Figures, environment: Record<string, unknown> }> {
  const start = nowMs()
  const loadBefore = loadavg()[0]
  const figures: Figures = {
    ...await orUnmeasured('http', HTTP_GOALS, benchHttp),
    ...await orUnmeasured('tick', TICK_GOALS, benchTick),
    ...await orUnmeasured('schedule', SCHEDULE_GOALS, benchScheduleFigures),
    ...await benchClaims(),
    ...await orUnmeasured('boot', BOOT_GOALS, benchBoot),
    ...await orUnmeasured('heap', HEAP_GOALS, benchHeap),
    ...await orUnmeasured('cli', CLI_GOALS, benchCli)
  }
  const environment = {
    node: process.version,
    cpus: cpus().length,
    // Ratios hold up on a busy machine better than times do, but a high load still widens them.
    loadAverageBefore: round(loadBefore),
    loadAverageAfter: round(loadavg()[0]),
    seconds: round((nowMs() - start) / 1000)
  }
  return { figures, environment }
}

if (isMain(import.meta.url)) {
  benchAll().then(({ figures, environment }) => {
    printFigures({ ...figures }, process.argv.slice(2), environment)
  }, (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
    process.exitCode = 1
  })
}
