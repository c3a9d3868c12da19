/**
 * `fastify-scheduler work`: tick in-process at second 0 of every minute, for hosts without
 * cron. The loop (`startWorkLoop`) takes an injectable clock and timer, so tests drive it
 * minute by minute without sleeping.
 */
import type { FastifyInstance } from 'fastify'
import type { RunOutcome } from '../plugin/types.js'
import { floorToMinute, MINUTE } from '../core/time.js'
import { EXIT, formatDuration, parseCommandArgs, type Command } from './common.js'
import { APP_OPTIONS, appHelp, loadApp } from './load-app.js'

export const help = `Usage: fastify-scheduler work [--app PATH] [--verbose]

Boot the app (without listening) and tick at second 0 of every minute until stopped,
for hosts without cron. The first tick is at start-up (a late tick still runs what is
owed: catch-up). One line per finished run goes to stdout. Errors, such as a store
that is down, are logged and the next minute tries again.
SIGINT or SIGTERM: stop ticking, close the app (running tasks see their signal abort
and get the grace period to finish), exit 0.

Options:
  --app PATH     the app module (see below)
  --verbose      log at info level (stderr)

Exit codes: 0 stopped by a signal, 2 usage error, 3 the app failed to load or boot,
4 the store could not be opened at boot.

${appHelp}
`

/** The clock and timer the loop uses; tests pass their own. */
export interface WorkClock {
  now (): number
  setTimeout (callback: () => void, ms: number): unknown
  clearTimeout? (handle: unknown): void
}

export const systemClock: WorkClock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: handle => clearTimeout(handle as NodeJS.Timeout)
}

export interface WorkLoopOptions {
  /** One tick at `now`; a rejection goes to `onError` and the loop goes on. */
  tick: (now: Date) => Promise<unknown>
  clock?: WorkClock
  onError?: (err: unknown) => void
}

export interface WorkLoop {
  /** The current step (a tick, then arming the timer); resolves when it is done. */
  readonly idle: Promise<void>
  /** Stop ticking; resolves after the tick in progress, if any. */
  stop (): Promise<void>
}

/**
 * Tick now, then at the start of every following minute. A timer that fires early (the
 * same minute as the last tick) only re-arms; a tick that takes longer than a minute is
 * followed at once by the next one, so no minute is skipped for good (catch-up covers it).
 */
export function startWorkLoop ({ tick, clock = systemClock, onError = () => {} }: WorkLoopOptions): WorkLoop {
  let lastMinute = -Infinity
  let stopped = false
  let timer: unknown
  let idle: Promise<void>

  const step = async (): Promise<void> => {
    const now = clock.now()
    if (floorToMinute(now) > lastMinute) {
      lastMinute = floorToMinute(now)
      try {
        await tick(new Date(now))
      } catch (err) {
        onError(err)
      }
    }
    if (stopped) return
    const nextMinute = floorToMinute(clock.now()) + MINUTE
    timer = clock.setTimeout(() => { idle = step() }, Math.max(0, nextMinute - clock.now()))
  }

  idle = step()
  return {
    get idle () { return idle },
    async stop () {
      stopped = true
      if (timer !== undefined) clock.clearTimeout?.(timer)
      await idle
    }
  }
}

function formatRun (run: RunOutcome): string {
  const detail = run.error ?? run.reason
  return `${run.scheduledFor} ${run.task} ${run.status}` +
    `${run.durationMs !== undefined ? ` ${formatDuration(run.durationMs)}` : ''}${detail !== undefined ? `: ${detail}` : ''}\n`
}

export interface WorkOptions {
  /** Settles when the worker should stop (the command: SIGINT or SIGTERM). */
  stop: Promise<unknown>
  clock?: WorkClock
  /** Where the line of each finished run goes; default stdout. */
  write?: (line: string) => void
}

/**
 * Tick `app` every minute until `stop` settles, writing one line per finished run. Returns
 * once the loop has stopped; the caller closes the app, which aborts runs still going.
 */
export async function work (app: FastifyInstance, { stop, clock, write = line => { process.stdout.write(line) } }: WorkOptions): Promise<void> {
  const loop = startWorkLoop({
    ...(clock !== undefined ? { clock } : {}),
    tick: async now => {
      const result = await app.scheduler.tick({ now, trigger: 'work' })
      void result.settled.then(runs => { for (const run of runs) write(formatRun(run)) })
    },
    onError: err => app.log.error({ err }, 'fastify-scheduler work: tick failed; trying again next minute')
  })
  await stop
  await loop.stop()
}

async function main (args: string[]): Promise<number> {
  const { values } = parseCommandArgs('work', args, APP_OPTIONS)
  const loaded = await loadApp({ app: values.app, verbose: values.verbose })
  process.stderr.write(`fastify-scheduler work: ${loaded.file}, ${loaded.app.scheduler.taskNames.length} task(s); ` +
    'ticking at second 0 of every minute (SIGINT/SIGTERM to stop)\n')
  const signalled = new Promise<void>(resolve => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  await work(loaded.app, { stop: signalled })
  loaded.app.log.info('fastify-scheduler work: stopping')
  await loaded.close()
  return EXIT.ok
}

export const workCommand: Command = {
  help,
  main
}
