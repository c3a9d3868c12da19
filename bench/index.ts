/**
 * `npm run bench`: every benchmark, one after the other, as a table; `npm run bench -- --json`
 * prints one JSON object on stdout (progress goes to stderr); `--only http,tick` runs only
 * the named benchmarks (http, tick, schedule, claims, boot, heap, cli). Every figure is a ratio to a
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

/** Every benchmark by the name `--only` selects it with, in the order they run. */
const BENCHMARKS: Record<string, () => Promise<Figures>> = {
  http: async () => await orUnmeasured('http', HTTP_GOALS, benchHttp),
  tick: async () => await orUnmeasured('tick', TICK_GOALS, benchTick),
  schedule: async () => await orUnmeasured('schedule', SCHEDULE_GOALS, benchScheduleFigures),
  claims: benchClaims,
  boot: async () => await orUnmeasured('boot', BOOT_GOALS, benchBoot),
  heap: async () => await orUnmeasured('heap', HEAP_GOALS, benchHeap),
  cli: async () => await orUnmeasured('cli', CLI_GOALS, benchCli)
}

/** The benchmarks `--only a,b` (or `--only=a,b`) names, every one without it; an unknown name throws. */
export function selectBenchmarks (argv: readonly string[]): string[] {
  const at = argv.findIndex(arg => arg === '--only' || arg.startsWith('--only='))
  if (at === -1) return Object.keys(BENCHMARKS)
  const value = argv[at].startsWith('--only=') ? argv[at].slice('--only='.length) : argv[at + 1] ?? ''
  const names = value.split(',').map(name => name.trim()).filter(name => name !== '')
  const unknown = names.filter(name => !Object.hasOwn(BENCHMARKS, name))
  if (names.length === 0 || unknown.length > 0) {
    throw new Error(`--only takes benchmark names among ${Object.keys(BENCHMARKS).join(', ')}${unknown.length > 0 ? ` (unknown: ${unknown.join(', ')})` : ''}`)
  }
  return names
}

export async function benchAll (names: readonly string[] = Object.keys(BENCHMARKS)): Promise<{ figures: Figures, environment: Record<string, unknown> }> {
  const start = nowMs()
  const loadBefore = loadavg()[0]
  const figures: Figures = {}
  for (const name of names) Object.assign(figures, await BENCHMARKS[name]())
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
  const argv = process.argv.slice(2)
  // Async, so a bad --only is reported like any other failure.
  const run = async (): Promise<Awaited<ReturnType<typeof benchAll>>> => await benchAll(selectBenchmarks(argv))
  run().then(({ figures, environment }) => {
    printFigures({ ...figures }, argv, environment)
  }, (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
    process.exitCode = 1
  })
}
