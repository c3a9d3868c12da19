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
import { TICK_GOALS, benchTick } from './tick.js'
import { figure, goal, isMain, nowMs, orUnmeasured, printFigures, progress, round, type Figure, type Figures } from './util.js'

const SCHEDULE_COMMAND = 'npx tsx bench/schedule.ts'
export const SCHEDULE_GOALS = {
  nextVsCroner: goal('<=', 0.5, '× (ours ÷ croner)', SCHEDULE_COMMAND),
  cronNextVsCroner: goal('<=', 0.5, '× (ours ÷ croner)', SCHEDULE_COMMAND)
}

interface ScheduleBench {
  nextVsCroner: unknown
  cronNextVsCroner: unknown
  rows?: unknown
}

/** A ratio from bench/schedule.ts: a number, or an object carrying `value` (or `ratio`). */
function ratioOf (value: unknown): number {
  if (typeof value === 'number') return value
  const carried = (value as { value?: unknown, ratio?: unknown } | null)?.value ?? (value as { ratio?: unknown } | null)?.ratio
  if (typeof carried === 'number') return carried
  throw new Error(`bench/schedule.ts returned ${JSON.stringify(value)} where a ratio was expected`)
}

/** `next()` against croner, from the schedule engineer's `bench/schedule.ts` (loaded only if present). */
async function benchScheduleFigures (): Promise<Figures> {
  let module: { benchSchedule?: () => Promise<ScheduleBench> }
  try {
    // A computed specifier: the module is someone else's and may not have landed yet.
    const specifier = new URL('./schedule.js', import.meta.url).href
    module = await import(specifier) as typeof module
  } catch (err) {
    throw new Error(`bench/schedule.ts could not be loaded (${(err as Error).message.split('\n')[0]})`)
  }
  if (typeof module.benchSchedule !== 'function') throw new Error('bench/schedule.ts does not export benchSchedule()')
  progress('schedule: next() vs croner')
  const result = await module.benchSchedule()
  const rows = result.rows !== undefined ? { rows: result.rows } : undefined
  const figures: Record<string, Figure> = {
    nextVsCroner: figure(ratioOf(result.nextVsCroner), SCHEDULE_GOALS.nextVsCroner, rows),
    cronNextVsCroner: figure(ratioOf(result.cronNextVsCroner), SCHEDULE_GOALS.cronNextVsCroner)
  }
  return figures
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
