/**
 * Notifications (docs/ARCHITECTURE.md#notifications-and-the-dashboard): `app.scheduler.addHook('onRunStart' | 'onRunEnd', fn)`, a task's
 * `onSuccess` / `onFailure`, and a task's `heartbeat` URL. All of them run after the run's
 * record is written, each bounded in time; a hook that throws or hangs is logged and never
 * changes the run's outcome.
 */
import type { FastifyBaseLogger } from 'fastify'
import { TIMED_OUT, withDeadline } from '../core/deadline.js'
import { InvalidOptionError } from '../core/errors.js'
import type { RunRecord, TaskPause } from './stores/store.js'
import { loggableError } from './thrown.js'
import { suggest } from '../core/suggest.js'

/** The scheduler's hooks: `onRunStart` once a run's `running` record is written, `onRunEnd` once its final record is. */
export type RunHookName = 'onRunStart' | 'onRunEnd'
/** A run hook receives a copy of the run record. Its promise is awaited up to `hookTimeout`. */
export type RunHook = (run: Readonly<RunRecord>) => unknown

/**
 * `onPause`: called with the pause when this process pauses a task or everything — by
 * `pause()` or by `pauseOnFailure` (docs/PAUSE.md). `task` is null for everything.
 */
export type PauseHook = (pause: Readonly<TaskPause>) => unknown

const HOOK_NAMES: ReadonlyArray<RunHookName | 'onPause'> = ['onRunStart', 'onRunEnd', 'onPause']

/** How long a hook, a task's onSuccess/onFailure or a heartbeat request may take before it is given up on. */
export const HOOK_TIMEOUT_MS = 5000

/** Call `fn`, wait for it at most `timeoutMs`, log what goes wrong. Never rejects. */
export async function callBounded (label: string, log: FastifyBaseLogger, timeoutMs: number, fn: () => unknown): Promise<void> {
  try {
    const result = await withDeadline(Promise.resolve().then(fn), timeoutMs)
    if (result === TIMED_OUT) log.warn({ hook: label, timeoutMs }, `${label} did not finish within ${timeoutMs} ms; the run is not affected`)
  } catch (err) {
    log.error({ hook: label, err: loggableError(err) }, `${label} threw; the run is not affected`)
  }
}

export class RunHooks {
  readonly #hooks: Record<RunHookName, RunHook[]> = { onRunStart: [], onRunEnd: [] }
  readonly #pauseHooks: PauseHook[] = []

  add (name: RunHookName | 'onPause', fn: RunHook | PauseHook): void {
    if (!HOOK_NAMES.includes(name)) {
      const guess = suggest(String(name), HOOK_NAMES)
      throw new InvalidOptionError(`addHook: unknown hook "${String(name)}"${guess === undefined ? '' : ` — did you mean "${guess}"?`} (accepted: ${HOOK_NAMES.join(', ')})`)
    }
    if (typeof fn !== 'function') throw new InvalidOptionError(`addHook('${name}', fn): fn must be a function`)
    if (name === 'onPause') this.#pauseHooks.push(fn as PauseHook)
    else this.#hooks[name].push(fn as RunHook)
  }

  /** Call every `onPause` hook with a copy of `pause`, in parallel, each bounded. */
  async callPause (pause: TaskPause, log: FastifyBaseLogger): Promise<void> {
    if (this.#pauseHooks.length === 0) return
    await Promise.all(this.#pauseHooks.map(hook => callBounded('onPause', log, HOOK_TIMEOUT_MS, () => hook(Object.freeze({ ...pause })))))
  }

  /** Call every hook of `name` with a copy of `run`, in parallel, each bounded. */
  async call (name: RunHookName, run: RunRecord, log: FastifyBaseLogger): Promise<void> {
    const hooks = this.#hooks[name]
    if (hooks.length === 0) return
    await Promise.all(hooks.map(hook => callBounded(name, log, HOOK_TIMEOUT_MS, () => hook(Object.freeze({ ...run })))))
  }
}

/** The Healthchecks.io convention: `<url>/start`, `<url>` on success, `<url>/fail` on failure. */
export function heartbeatUrl (base: URL, event: 'start' | 'success' | 'fail'): string {
  if (event === 'success') return base.href
  const url = new URL(base.href)
  url.pathname = `${url.pathname.replace(/\/$/, '')}/${event}`
  return url.href
}

/**
 * Request a heartbeat URL: a short timeout per request, up to 3 tries. The failure message
 * goes in the body of `/fail` (shown by Healthchecks.io). Never rejects; the URL is not
 * logged (it is a secret: anyone holding it can report for the task).
 */
export async function pingHeartbeat (base: URL, event: 'start' | 'success' | 'fail', log: FastifyBaseLogger, body?: string): Promise<void> {
  const url = heartbeatUrl(base, event)
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      const response = await fetch(url, {
        method: 'POST',
        body: body ?? '',
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        signal: AbortSignal.timeout(Math.floor(HOOK_TIMEOUT_MS / 3))
      })
      await response.body?.cancel()
      if (response.ok) return
      log.warn({ heartbeat: event, status: response.status, attempt }, 'heartbeat ping answered an error status')
    } catch (err) {
      log.warn({ heartbeat: event, attempt, reason: (err as Error)?.message }, 'heartbeat ping failed')
    }
  }
}
