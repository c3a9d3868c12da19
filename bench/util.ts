/**
 * What every benchmark shares: timing (hrtime, medians of alternated rounds), child
 * processes timed from spawn to exit, temp folders, the figure format (value, goal, met)
 * and the table / `--json` output. Absolute times on a shared machine mean little, so every
 * figure is a ratio against a baseline measured in the same run, alternating the two sides.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { formatTable } from '../cli/common.js'

/** The repository root (bench/..). */
export const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))

/** One published figure: its value, the goal it is held to and whether the goal is met. */
export interface Figure {
  /** Null when the figure could not be measured; `reason` says why. */
  value: number | null
  /** `>= 0.8`, `< 10`, `<= 2` … */
  goal: string
  met: boolean | null
  unit: string
  reason?: string
  /** The command that measures this figure alone. */
  command: string
  /** The numbers behind the value (both sides, rounds). */
  detail?: Record<string, unknown>
}

type Comparison = '>=' | '<=' | '<'

/** What a figure is held to, and the command that measures it alone. */
export interface Goal {
  comparison: Comparison
  target: number
  unit: string
  command: string
}

export function goal (comparison: Comparison, target: number, unit: string, command: string): Goal {
  return { comparison, target, unit, command }
}

/** A measured figure, checked against its goal. */
export function figure (value: number, { comparison, target, unit, command }: Goal, detail?: Record<string, unknown>): Figure {
  const met = comparison === '>=' ? value >= target : comparison === '<=' ? value <= target : value < target
  return { value: round(value), goal: `${comparison} ${target}`, met, unit, command, ...(detail !== undefined ? { detail } : {}) }
}

/** A figure that could not be measured, with the reason. */
export function unmeasured ({ comparison, target, unit, command }: Goal, reason: string): Figure {
  return { value: null, goal: `${comparison} ${target}`, met: null, unit, reason, command }
}

/** Three significant digits are all a shared machine can promise. */
export function round (value: number): number {
  if (!Number.isFinite(value) || value === 0) return value
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(value))))
  return Number(value.toFixed(Math.min(digits, 6)))
}

export function median (values: readonly number[]): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** Monotonic time in milliseconds (fractional). */
export function nowMs (): number {
  return Number(process.hrtime.bigint()) / 1e6
}

/** Milliseconds `fn` takes. */
export async function timeMs (fn: () => unknown): Promise<number> {
  const start = nowMs()
  await fn()
  return nowMs() - start
}

/**
 * Measure two sides in alternation (ours, baseline, ours, baseline …) so drift on a shared
 * machine hits both alike. Returns every round's sample, the median of each side, and the
 * median of the rounds' own ratios (`pairedRatio`: each round's two samples are taken back to
 * back, so a machine that slows down for a few seconds moves both sides of a pair, not one).
 */
export async function alternate (rounds: number, ours: () => Promise<number>, baseline: () => Promise<number>):
Promise<{ ours: number, baseline: number, oursRounds: number[], baselineRounds: number[], pairedRatio: number }> {
  const oursRounds: number[] = []
  const baselineRounds: number[] = []
  for (let i = 0; i < rounds; i++) {
    // Swap who goes first every round: a warm cache or a busy neighbour favours neither side.
    if (i % 2 === 0) {
      oursRounds.push(await ours())
      baselineRounds.push(await baseline())
    } else {
      baselineRounds.push(await baseline())
      oursRounds.push(await ours())
    }
  }
  const pairedRatio = median(oursRounds.map((value, i) => value / baselineRounds[i]!))
  return { ours: median(oursRounds), baseline: median(baselineRounds), oursRounds: oursRounds.map(round), baselineRounds: baselineRounds.map(round), pairedRatio }
}

/** Progress goes to stderr so `--json` keeps stdout to one JSON object. */
export function progress (message: string): void {
  process.stderr.write(`bench: ${message}\n`)
}

/** A fresh temp folder and its removal. */
export function tempDir (label: string): { dir: string, remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `fastify-scheduler-${label}-`))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Every child runs under the same loader (`node --import tsx`), so its cost is equal on both sides. */
export const TSX_EXEC_ARGV: readonly string[] = ['--import', 'tsx']

/** `node --import tsx script args` as an argument list. */
export function tsxNode (script: string, args: readonly string[] = [], nodeFlags: readonly string[] = []): string[] {
  return [...nodeFlags, ...TSX_EXEC_ARGV, script, ...args]
}

export interface ChildResult {
  /** Wall time from spawn to exit, in ms. */
  wallMs: number
  stdout: string
  stderr: string
}

/** Run `node args` to completion, timing it from spawn to exit; a non-zero exit rejects with its output. */
export async function runNode (args: readonly string[], options: { cwd?: string, env?: NodeJS.ProcessEnv } = {}): Promise<ChildResult> {
  const start = nowMs()
  const child = spawn(process.execPath, args, {
    cwd: options.cwd ?? ROOT,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', resolve)
  })
  const wallMs = nowMs() - start
  if (code !== 0) {
    throw new Error(`node ${args.join(' ')} exited with ${code}\n${stderr.slice(-2000)}${stdout.slice(-1000)}`)
  }
  return { wallMs, stdout, stderr }
}

/** The last line of a child's stdout, parsed as JSON (children print their numbers last). */
export function lastJsonLine<T> (stdout: string): T {
  const lines = stdout.trim().split('\n')
  return JSON.parse(lines[lines.length - 1]) as T
}

export type Figures = Record<string, Figure | Record<string, Figure>>

function flatten (figures: Figures): Array<[string, Figure]> {
  return Object.entries(figures).flatMap(([name, entry]): Array<[string, Figure]> =>
    'goal' in entry && typeof entry.goal === 'string'
      ? [[name, entry as Figure]]
      : Object.entries(entry as Record<string, Figure>).map(([sub, fig]): [string, Figure] => [`${name}.${sub}`, fig]))
}

function showValue (fig: Figure): string {
  return fig.value === null ? `n/a (${fig.reason ?? 'not measured'})` : `${fig.value} ${fig.unit}`.trim()
}

/** The figures as a plain-text table, with the command behind each line. */
export function figureTable (figures: Figures): string {
  const rows = flatten(figures).map(([name, fig]) => [
    name, showValue(fig), fig.goal, fig.met === null ? '-' : fig.met ? 'met' : 'MISSED', fig.command
  ])
  return formatTable(['figure', 'value', 'goal', 'met', 'command'], rows)
}

/** `--json`: one JSON object on stdout (the figures, plus `environment` when given); otherwise the table. */
export function printFigures (figures: Figures, argv: readonly string[] = process.argv.slice(2), environment?: Record<string, unknown>): void {
  if (argv.includes('--json')) {
    process.stdout.write(JSON.stringify(environment === undefined ? figures : { ...figures, environment }, null, 2) + '\n')
    return
  }
  process.stdout.write(figureTable(figures))
  if (environment !== undefined) {
    process.stdout.write(`\n${Object.entries(environment).map(([key, value]) => `${key}: ${String(value)}`).join(', ')}\n`)
  }
}

/** True when `moduleUrl` is the script node was started with (`npx tsx bench/tick.ts`). */
export function isMain (moduleUrl: string): boolean {
  const entry = process.argv[1]
  return entry !== undefined && resolve(entry) === fileURLToPath(moduleUrl)
}

/** Run one benchmark module on its own: print its figures, exit non-zero on a crash. */
export function runAlone (moduleUrl: string, bench: () => Promise<Figures>): void {
  if (!isMain(moduleUrl)) return
  bench().then(figures => { printFigures(figures) }, (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
    process.exitCode = 1
  })
}

function firstLine (err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0] : String(err)
}

/** Fail-soft: a benchmark that throws reports every figure it owns as null, with the error as the reason. */
export async function orUnmeasured (label: string, goals: Record<string, Goal>, bench: () => Promise<Figures>): Promise<Figures> {
  try {
    return await bench()
  } catch (err) {
    progress(`${label} failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
    return Object.fromEntries(Object.entries(goals).map(([name, g]) => [name, unmeasured(g, firstLine(err))]))
  }
}
