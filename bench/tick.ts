/**
 * A tick with nothing due, at 10,000 tasks: `app.scheduler.tick(now)` reads the head of the
 * due queue and returns. The baseline is the naive tick the due queue replaces: ask every
 * schedule for `previous(now)` and compare it with the last occurrence, every tick.
 *
 *   npx tsx bench/tick.ts [--json]
 */
import { compileSchedule } from '../tasks/schedule.js'
import { quietApp } from './fixtures/quiet-app.js'
import { quietSchedules } from './fixtures/schedules.js'
import { alternate, figure, goal, nowMs, progress, round, runAlone, type Figures } from './util.js'

const TASKS = 10_000
const ROUNDS = 9
const TICKS_PER_ROUND = 20_000
const NAIVE_TICKS_PER_ROUND = 3
/** Every task's occurrences lie outside 10:00–11:59 UTC; measured ticks fall inside. */
const QUIET_FROM = Date.parse('2026-05-11T10:00:00Z')
const QUIET_MS = 2 * 60 * 60_000
const COMMAND = 'npx tsx bench/tick.ts'

export const TICK_GOALS = {
  tickNoneDue10kMicros: goal('<', 10, 'µs', COMMAND),
  tickVsNaive: goal('>=', 1000, '× faster (naive ÷ ours)', COMMAND)
}

/** Instants spread over the quiet window, made once so the loop measures only the tick. */
function quietInstants (count: number): Date[] {
  return Array.from({ length: count }, (_, i) => new Date(QUIET_FROM + Math.floor((i * 7919 * 1000) % QUIET_MS)))
}

export async function benchTick (): Promise<Figures> {
  progress(`tick: ${TASKS} tasks, none due`)
  const schedules = quietSchedules(TASKS, 10)
  const app = await quietApp(schedules)
  try {
    // The first tick registers every task with the store and queues its next occurrence.
    const first = await app.scheduler.tick(new Date(QUIET_FROM))
    if (first.runs.length > 0) throw new Error(`tick bench: ${first.runs.length} tasks were due; the schedules are wrong`)

    const instants = quietInstants(TICKS_PER_ROUND)
    const compiled = schedules.map(schedule => compileSchedule(schedule, { timezone: 'UTC' }))
    const lastOccurrence = new Float64Array(compiled.length).fill(-Infinity)
    let owed = 0

    const ours = async (): Promise<number> => {
      const start = nowMs()
      for (const instant of instants) {
        const result = await app.scheduler.tick(instant)
        if (result.runs.length > 0) throw new Error('tick bench: a measured tick ran something')
      }
      return (nowMs() - start) * 1000 / instants.length
    }
    // What a scheduler without a due queue does: every schedule, every tick.
    const naive = async (): Promise<number> => {
      const start = nowMs()
      for (let tick = 0; tick < NAIVE_TICKS_PER_ROUND; tick++) {
        const now = instants[tick * 101]
        for (let i = 0; i < compiled.length; i++) {
          const occurrence = compiled[i].previous(now)
          if (occurrence !== undefined && occurrence.getTime() > lastOccurrence[i] && occurrence.getTime() >= QUIET_FROM) owed++
        }
        await Promise.resolve()
      }
      return (nowMs() - start) * 1000 / NAIVE_TICKS_PER_ROUND
    }
    await ours()
    await naive()
    const measured = await alternate(ROUNDS, ours, naive)
    if (owed > 0) throw new Error(`tick bench: the naive tick found ${owed} owed occurrences; the schedules are wrong`)
    return {
      tickNoneDue10kMicros: figure(measured.ours, TICK_GOALS.tickNoneDue10kMicros, { tasks: TASKS, rounds: ROUNDS, ticksPerRound: TICKS_PER_ROUND }),
      tickVsNaive: figure(measured.baseline / measured.ours, TICK_GOALS.tickVsNaive, {
        oursMicrosPerTick: round(measured.ours), naiveMicrosPerTick: round(measured.baseline), tasks: TASKS, rounds: ROUNDS
      })
    }
  } finally {
    await app.close()
  }
}

runAlone(import.meta.url, benchTick)
