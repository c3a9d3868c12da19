/**
 * Schedule engine benchmark: median cost of `next()` and `previous()` against croner's
 * `nextRun` on the equivalent cron expression, measured in the same run.
 *
 *   npx tsx bench/schedule.ts
 *
 * Ratios are croner's time divided by ours (above 1: we are faster). The goal: at least 2 for
 * attribute schedules, at least 1 for cron. No timed assertion runs in the tests.
 */
import { pathToFileURL } from 'node:url'
import { Cron } from 'croner'
import { compileSchedule } from '../tasks/schedule.js'
import type { Schedule, ScheduleDefinition } from '../tasks/types.js'

export interface ScheduleBenchRow {
  name: string
  kind: 'attributes' | 'cron'
  cron: string
  timezone: string
  nextNs: number
  previousNs: number
  cronerNextNs: number
  /** cronerNextNs / nextNs */
  nextRatio: number
  /** cronerNextNs / previousNs */
  previousRatio: number
}

export interface ScheduleBenchResult {
  /** The smallest croner/ours ratio of `next()` over the attribute schedules. */
  nextVsCroner: number
  /** The same for `previous()`. */
  previousVsCroner: number
  /** The smallest croner/ours ratio of `next()` over the cron schedules. */
  cronNextVsCroner: number
  rows: ScheduleBenchRow[]
}

interface Case {
  name: string
  kind: 'attributes' | 'cron'
  def: ScheduleDefinition
  timezone: string
}

const CASES: readonly Case[] = [
  { name: 'every minute', kind: 'attributes', def: { runEveryMinute: true }, timezone: 'UTC' },
  { name: 'every 7 minutes', kind: 'attributes', def: { runEvery: '7 minutes' }, timezone: 'Europe/Berlin' },
  { name: 'hourly', kind: 'attributes', def: { runEveryHour: true }, timezone: 'America/New_York' },
  { name: 'every 3 days at 17:00', kind: 'attributes', def: { runEvery: '3 days', runAt: '17:00' }, timezone: 'Europe/Berlin' },
  { name: 'monthly', kind: 'attributes', def: { runEvery: '1 month' }, timezone: 'UTC' },
  { name: 'twice daily', kind: 'attributes', def: { twiceDaily: [1, 13] }, timezone: 'Australia/Lord_Howe' },
  { name: 'daily at 02:30', kind: 'attributes', def: { runAt: '02:30' }, timezone: 'America/New_York' },
  { name: 'office hours', kind: 'cron', def: { cron: '*/5 9-17 * * 1-5' }, timezone: 'Europe/Berlin' },
  { name: 'Friday the 13th or Fridays', kind: 'cron', def: { cron: '0 0 13 * 5' }, timezone: 'UTC' },
  { name: 'quarterly at 02:15', kind: 'cron', def: { cron: '15 2 1 1,4,7,10 *' }, timezone: 'America/New_York' },
  { name: 'every 6 hours', kind: 'cron', def: { cron: '0 */6 * * *' }, timezone: 'Asia/Kathmandu' }
]

const ROUNDS = 7
const OUR_CALLS = 5000
const CRONER_CALLS = 400

/** Deterministic instants spread over 2026 (with seconds), so every run measures the same work. */
function instants (count: number): Date[] {
  let seed = 20260512
  const start = Date.parse('2026-01-01T00:00:00Z')
  return Array.from({ length: count }, () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return new Date(start + Math.floor((seed / 2 ** 31) * 365 * 86_400_000))
  })
}

/** Median over rounds of the nanoseconds per call of `fn` over `dates` (after a warm-up round). */
function medianNs (dates: readonly Date[], fn: (date: Date) => unknown): number {
  const perCall: number[] = []
  for (let round = 0; round <= ROUNDS; round++) {
    const started = process.hrtime.bigint()
    for (const date of dates) fn(date)
    const ns = Number(process.hrtime.bigint() - started) / dates.length
    if (round > 0) perCall.push(ns)
  }
  perCall.sort((a, b) => a - b)
  return perCall[Math.floor(perCall.length / 2)]
}

function measure (entry: Case): ScheduleBenchRow {
  const schedule: Schedule = compileSchedule(entry.def, { timezone: entry.timezone })
  const cron = schedule.cron ?? ''
  const croner = new Cron(cron, { timezone: entry.timezone, paused: true })
  const ours = instants(OUR_CALLS)
  const theirs = ours.slice(0, CRONER_CALLS)
  const sample = theirs[0]
  if (croner.nextRun(sample)?.getTime() !== schedule.next(sample)?.getTime()) {
    console.warn(`bench: ${entry.name}: croner and we disagree after ${sample.toISOString()}`)
  }
  const nextNs = medianNs(ours, (date) => schedule.next(date))
  const previousNs = medianNs(ours, (date) => schedule.previous(date))
  const cronerNextNs = medianNs(theirs, (date) => croner.nextRun(date))
  return {
    name: entry.name,
    kind: entry.kind,
    cron,
    timezone: entry.timezone,
    nextNs,
    previousNs,
    cronerNextNs,
    nextRatio: cronerNextNs / nextNs,
    previousRatio: cronerNextNs / previousNs
  }
}

/** Runs every case; the ratios are the worst case of their group. */
export async function benchSchedule (): Promise<ScheduleBenchResult> {
  const rows = CASES.map(measure)
  const attributes = rows.filter((row) => row.kind === 'attributes')
  const crons = rows.filter((row) => row.kind === 'cron')
  return {
    nextVsCroner: Math.min(...attributes.map((row) => row.nextRatio)),
    previousVsCroner: Math.min(...attributes.map((row) => row.previousRatio)),
    cronNextVsCroner: Math.min(...crons.map((row) => row.nextRatio)),
    rows
  }
}

function printTable (result: ScheduleBenchResult): void {
  const header = ['schedule', 'cron', 'zone', 'next ns', 'previous ns', 'croner ns', 'next ×', 'previous ×']
  const lines = result.rows.map((row) => [
    row.name, row.cron, row.timezone, row.nextNs.toFixed(0), row.previousNs.toFixed(0), row.cronerNextNs.toFixed(0),
    row.nextRatio.toFixed(1), row.previousRatio.toFixed(1)
  ])
  const widths = header.map((title, i) => Math.max(title.length, ...lines.map((line) => line[i].length)))
  for (const line of [header, ...lines]) console.log(line.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  '))
  console.log(`\nworst ratio (croner ÷ ours): attribute next ${result.nextVsCroner.toFixed(1)}×, ` +
    `attribute previous ${result.previousVsCroner.toFixed(1)}×, cron next ${result.cronNextVsCroner.toFixed(1)}× ` +
    '(goal: ≥ 2× for attributes, ≥ 1× for cron)')
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printTable(await benchSchedule())
}
