/**
 * A whole year (2026) of minute ticks in five zones — two DST rule sets, a half-hour DST
 * shift (Lord Howe), a quarter-hour offset (Kathmandu) and UTC — through a real app on the
 * memory store: every minute of the local year is ticked, nothing is skipped.
 *
 * What is owed is computed here from Intl alone, never from the scheduler's own zone code:
 * - a daily task (`runAt`) runs once per local calendar day, at the first instant whose local
 *   time is at or after its time: inside a spring-forward gap that is the first instant
 *   after the gap; in a repeated hour it is the first pass;
 * - the hourly task follows elapsed time: it runs at every instant whose local minute is 0,
 *   so a repeated hour runs twice and a skipped hour not at all.
 */
import { fork } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import Fastify from 'fastify'
import fastifyScheduler from '../../plugin.js'
import { memoryStore } from '../../plugin/stores/memory.js'
import { defineTask } from '../../tasks/task.js'
import { untrackedEnv } from '../helpers/child-env.js'

const MINUTE = 60_000
const DAILY = { 'daily-0230': '02:30', 'daily-0130': '01:30' } as const
type TaskName = keyof typeof DAILY | 'hourly'

/** Hourly runs owed in 2026: a spring gap that swallows a minute 0 loses one, a repeated minute 0 adds one. */
const HOURLY_RUNS: Record<string, number> = {
  'America/New_York': 8760, // 02:00 skipped on March 8, 01:00 twice on November 1
  'Europe/Berlin': 8760, // 02:00 skipped on March 29, 02:00 twice on October 25
  'Australia/Lord_Howe': 8759, // 02:00–02:29 skipped on October 4; 01:30–01:59 repeated on April 5 holds no minute 0
  'Asia/Kathmandu': 8760,
  UTC: 8760
}

/** Daily runs pinned on the days clocks change (UTC instants): gaps run after the gap, repeats run once, first pass. */
const DST_DAYS: Record<string, Array<[TaskName, string, string]>> = {
  'America/New_York': [
    ['daily-0230', '2026-03-08', '2026-03-08T07:00:00.000Z'], // 02:30 does not exist: 03:00 EDT
    ['daily-0130', '2026-11-01', '2026-11-01T05:30:00.000Z'] // 01:30 twice: the first, EDT
  ],
  'Europe/Berlin': [
    ['daily-0230', '2026-03-29', '2026-03-29T01:00:00.000Z'], // 03:00 CEST
    ['daily-0230', '2026-10-25', '2026-10-25T00:30:00.000Z'] // first 02:30, CEST
  ],
  'Australia/Lord_Howe': [
    ['daily-0230', '2026-10-04', '2026-10-03T15:30:00.000Z'], // 02:30 exists: the gap is 02:00–02:30
    ['daily-0130', '2026-04-05', '2026-04-04T14:30:00.000Z'] // first 01:30, +11:00
  ],
  'Asia/Kathmandu': [['daily-0230', '2026-06-01', '2026-05-31T20:45:00.000Z']],
  UTC: [['daily-0130', '2026-07-01', '2026-07-01T01:30:00.000Z']]
}

const DAY = 24 * 60 * MINUTE
/** Offsets are sampled this often and each change is bisected to its minute (no zone changes twice within it). */
const SAMPLE_MS = 30 * MINUTE

function zoneFormat (zone: string): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit'
  })
}

/** UTC offset (ms) of `zone` at `ms`, read with Intl: the local wall clock minus the instant. */
function intlOffset (format: Intl.DateTimeFormat, ms: number): number {
  const text = format.format(ms) // "MM/DD/YYYY, HH:MM"
  const wall = Date.UTC(Number(text.slice(6, 10)), Number(text.slice(0, 2)) - 1, Number(text.slice(3, 5)),
    Number(text.slice(12, 14)), Number(text.slice(15, 17)))
  return wall - ms
}

/**
 * The local wall clock of `zone` as a function of a minute instant, read from Intl only
 * (never from tasks/zone.ts). Intl is asked every 30 minutes and at each offset change,
 * bisected to the minute; between changes the wall clock is the instant plus the offset.
 * Queries must come in increasing order.
 */
function localClock (zone: string, from: number, to: number): (ms: number) => { day: number, minuteOfDay: number } {
  const format = zoneFormat(zone)
  const changes: Array<{ since: number, offset: number }> = [{ since: from, offset: intlOffset(format, from) }]
  for (let a = from; a < to; a += SAMPLE_MS) {
    const before = changes[changes.length - 1].offset
    let hi = Math.min(a + SAMPLE_MS, to)
    if (intlOffset(format, hi) === before) continue
    let lo = a
    while (hi - lo > MINUTE) {
      const mid = lo + Math.floor((hi - lo) / 2 / MINUTE) * MINUTE
      if (intlOffset(format, mid) === before) lo = mid
      else hi = mid
    }
    changes.push({ since: hi, offset: intlOffset(format, hi) })
  }
  let i = 0
  return ms => {
    while (i + 1 < changes.length && changes[i + 1].since <= ms) i++
    while (i > 0 && changes[i].since > ms) i--
    const wall = ms + changes[i].offset
    return { day: Math.floor(wall / DAY), minuteOfDay: Math.floor((wall % DAY) / MINUTE) }
  }
}

/** The local day number of any instant in `zone` (one Intl call each). */
function localDayOf (zone: string): (ms: number) => number {
  const format = zoneFormat(zone)
  return ms => Math.floor((ms + intlOffset(format, ms)) / DAY)
}

/** `02:30` → 150. */
function minuteOfDay (time: string): number {
  return Number(time.slice(0, 2)) * 60 + Number(time.slice(3, 5))
}

/** The first instant of local day `day`: local midnight, or the first minute after it if midnight is skipped. */
function startOfLocalDay (zone: string, day: number): number {
  // Offsets lie within ±14 h: local midnight is within that of UTC midnight.
  const from = day * DAY - 15 * 60 * MINUTE
  const local = localClock(zone, from, from + 30 * 60 * MINUTE)
  let ms = from
  while (local(ms).day < day) ms += MINUTE
  return ms
}

/** Local day number (days since 1970-01-01 on the wall clock) → `YYYY-MM-DD`. */
function isoDay (day: number): string {
  return new Date(day * DAY).toISOString().slice(0, 10)
}

interface YearResult {
  /** Local days the ticks covered. */
  days: number
  /** Occurrences each task ran (UTC ms), in order. */
  ran: Record<TaskName, number[]>
  /** What each task was owed, from the Intl oracle. */
  owed: Record<TaskName, number[]>
  /** Outcomes that were not `succeeded`. */
  notSucceeded: string[]
}

/** Tick every minute of the local year 2026 in `zone` through a real app; no assertions here. */
async function simulateYear (zone: string): Promise<YearResult> {
  const ran: Record<TaskName, number[]> = { 'daily-0230': [], 'daily-0130': [], hourly: [] }
  const app = Fastify({ logger: false })
  await app.register(fastifyScheduler, {
    dir: false,
    routes: false,
    store: memoryStore(),
    // History is not what this test reads; a short one keeps 9,000 runs a zone cheap to record.
    historyLimit: 1,
    timezone: zone,
    tasks: [
      defineTask({ name: 'daily-0230', runAt: '02:30', handle ({ scheduledFor }) { ran['daily-0230'].push(scheduledFor.getTime()) } }),
      defineTask({ name: 'daily-0130', runAt: '01:30', handle ({ scheduledFor }) { ran['daily-0130'].push(scheduledFor.getTime()) } }),
      defineTask({ name: 'hourly', runEveryHour: true, handle ({ scheduledFor }) { ran.hourly.push(scheduledFor.getTime()) } })
    ]
  })
  await app.ready()
  try {
    const start = startOfLocalDay(zone, Date.UTC(2026, 0, 1) / DAY)
    const end = startOfLocalDay(zone, Date.UTC(2027, 0, 1) / DAY)
    const local = localClock(zone, start, end)
    const dailies = Object.entries(DAILY).map(([task, time]) => ({ task: task as keyof typeof DAILY, at: minuteOfDay(time), lastDay: -1 }))
    const owed: Record<TaskName, number[]> = { 'daily-0230': [], 'daily-0130': [], hourly: [] }
    const days = new Set<number>()
    const notSucceeded: string[] = []

    for (let ms = start; ms < end; ms += MINUTE) {
      const now = local(ms)
      days.add(now.day)
      if (now.minuteOfDay % 60 === 0) owed.hourly.push(ms)
      for (const daily of dailies) {
        if (daily.lastDay !== now.day && now.minuteOfDay >= daily.at) {
          daily.lastDay = now.day
          owed[daily.task].push(ms)
        }
      }
      const result = await app.scheduler.tick(new Date(ms))
      if (result.runs.length === 0) continue
      for (const outcome of await result.settled) {
        if (outcome.status !== 'succeeded') notSucceeded.push(`${outcome.task} ${outcome.scheduledFor} ${outcome.status} ${outcome.reason ?? outcome.error ?? ''}`)
      }
    }
    return { days: days.size, ran, owed, notSucceeded }
  } finally {
    await app.close()
  }
}

function checkYear (t: Test, zone: string, { days, ran, owed, notSucceeded }: YearResult): void {
  const dayOf = localDayOf(zone)
  t.equal(days, 365, 'the local year has 365 days')
  t.same(notSucceeded, [], 'every run succeeded, none skipped or missed')
  for (const task of Object.keys(DAILY) as Array<keyof typeof DAILY>) {
    const runDays = ran[task].map(dayOf)
    t.equal(new Set(runDays).size, 365, `${task}: runs on 365 distinct local days`)
    t.equal(ran[task].length, 365, `${task}: exactly once per local day`)
    t.same(ran[task], owed[task], `${task}: each day at the first instant at or after ${DAILY[task]} local`)
  }
  t.equal(ran.hourly.length, HOURLY_RUNS[zone], `hourly: ${HOURLY_RUNS[zone]} runs, one per elapsed local hour`)
  t.same(ran.hourly, owed.hourly, 'hourly: at every instant whose local minute is 0, and nowhere else')
  for (const [task, date, instant] of DST_DAYS[zone]) {
    const onDay = ran[task].filter(ms => isoDay(dayOf(ms)) === date).map(ms => new Date(ms).toISOString())
    t.same(onDay, [instant], `${task} on ${date}: once, at ${instant}`)
  }
  const dailyRuns = ran['daily-0230'].length + ran['daily-0130'].length
  t.comment(`${zone}: ${days} days, daily runs ${dailyRuns} (once per day), hourly runs ${ran.hourly.length}`)
}

const thisFile = fileURLToPath(import.meta.url)

/** One zone's year in a child process (this file with `--simulate <zone>`). */
function simulateInChild (zone: string): Promise<YearResult> {
  return new Promise((resolve, reject) => {
    // Untracked: a child running this very file would also be taken for the test itself.
    const child = fork(thisFile, ['--simulate', zone], { env: untrackedEnv(), execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    let result: YearResult | undefined
    child.once('message', (message: YearResult) => { result = message })
    child.once('error', reject)
    // 'close', not 'exit': it comes after the IPC channel has delivered every message.
    child.once('close', code => {
      if (code === 0 && result !== undefined) resolve(result)
      else reject(new Error(`the ${zone} simulation exited with ${code}`))
    })
  })
}

/** Run `jobs` with at most `limit` at a time; results in order. */
function pooled<T> (limit: number, jobs: ReadonlyArray<() => Promise<T>>): Array<Promise<T>> {
  const slots: Array<Promise<unknown>> = []
  return jobs.map(job => {
    const previous = slots.length < limit ? Promise.resolve() : slots[slots.length - limit]
    const started = previous.catch(() => {}).then(job)
    slots.push(started)
    return started
  })
}

if (process.argv[2] === '--simulate') {
  // The child: no tap here, so no async-hook bookkeeping on the half million promises a year of ticks makes.
  const result = await simulateYear(process.argv[3])
  process.send?.(result, () => process.disconnect())
} else {
  const { default: t } = await import('tap')
  const zones = Object.keys(HOURLY_RUNS)
  // Zones run in parallel child processes, one per core.
  const years = pooled(Math.max(1, availableParallelism()), zones.map(zone => () => simulateInChild(zone)))
  zones.forEach((zone, i) => {
    t.test(`a year of minute ticks in ${zone}`, async t => { checkYear(t, zone, await years[i]) })
  })
}
