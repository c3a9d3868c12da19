/**
 * Final records the store has not taken yet. A run that ends while the store is unreachable
 * has its outcome answered at once; its final record waits here and is written again, with
 * backoff (1 s doubling to 30 s), for as long as the process lives, and before the process's
 * next claims once the store answers again (`flush`). The store fences late records (see
 * `docs/ARCHITECTURE.md#late-results`): a result that lands after the run was reaped replaces
 * the `abandoned` mark and, if it is a success, cancels the retry armed meanwhile.
 *
 * Bounded memory: at most `limit` records wait; past that the oldest is dropped with an error
 * log (that run stays `abandoned` in the history).
 */
import type { FastifyBaseLogger } from 'fastify'
import type { FinishRunOptions, RunRecord, Store } from './stores/store.js'

const FIRST_DELAY_MS = 1000
const MAX_DELAY_MS = 30_000
/** Final records kept waiting at most: far more than one process runs in an outage. */
export const PENDING_FINALS_LIMIT = 10_000

interface Pending { run: RunRecord, options: FinishRunOptions, log: FastifyBaseLogger }

export class FinalRecords {
  readonly #store: Store
  readonly #limit: number
  readonly #pending = new Map<string, Pending>()
  #delayMs = FIRST_DELAY_MS
  #timer: NodeJS.Timeout | undefined
  #flushing: Promise<void> | undefined
  #closed = false

  constructor (store: Store, limit = PENDING_FINALS_LIMIT) {
    this.#store = store
    this.#limit = limit
  }

  /** How many final records wait for the store. */
  get size (): number {
    return this.#pending.size
  }

  /**
   * Write a final record now; when the store fails, keep it and go on trying in the
   * background. Resolves with whether this first attempt wrote it; never rejects.
   */
  async write (run: RunRecord, options: FinishRunOptions, log: FastifyBaseLogger): Promise<boolean> {
    try {
      await this.#store.finishRun(run, options)
      return true
    } catch (err) {
      log.error({ err }, 'could not record the end of the run; it is kept and written when the store answers again')
      this.#keep({ run, options, log })
      return false
    }
  }

  /**
   * Write every waiting record, oldest first, stopping at the first failure (the store is
   * still away). The scheduler awaits it before it claims anything. Never rejects.
   */
  flush (): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve()
    this.#flushing ??= this.#drain().finally(() => { this.#flushing = undefined })
    return this.#flushing
  }

  /** Stop the background retries (what is still waiting stays `running`, then `abandoned`). */
  close (): void {
    this.#closed = true
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #keep (pending: Pending): void {
    this.#pending.delete(pending.run.id)
    this.#pending.set(pending.run.id, pending)
    if (this.#pending.size > this.#limit) {
      const [oldestId, oldest] = this.#pending.entries().next().value as [string, Pending]
      this.#pending.delete(oldestId)
      oldest.log.error({ status: oldest.run.status }, `gave up recording the end of the run: more than ${this.#limit} final records waited for the store; the run stays recorded abandoned`)
    }
    this.#schedule()
  }

  #schedule (): void {
    if (this.#closed || this.#timer !== undefined || this.#pending.size === 0) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      void this.flush()
    }, this.#delayMs)
    this.#timer.unref()
  }

  async #drain (): Promise<void> {
    for (const [id, { run, options, log }] of [...this.#pending]) {
      try {
        await this.#store.finishRun(run, options)
      } catch {
        this.#delayMs = Math.min(MAX_DELAY_MS, this.#delayMs * 2)
        this.#schedule()
        return
      }
      this.#pending.delete(id)
      log.info({ status: run.status }, 'recorded the end of the run after the store came back')
    }
    this.#delayMs = FIRST_DELAY_MS
  }
}
