/**
 * The store's time as this process reads it (docs/ARCHITECTURE.md#time): a network store's
 * clock is the clock of record, so a process measures the offset of its own clock against it
 * (halfway through the round trip) and reads "now" corrected by it. Beyond `maxClockSkew` the
 * process claims nothing until a later measurement is back within it.
 */
import type { FastifyBaseLogger } from 'fastify'
import { storeUnavailable } from '../core/errors.js'
import type { Store } from './stores/store.js'

/**
 * Why a process whose clock is `offsetMs` behind the store's (negative: ahead) must claim
 * nothing, or undefined when the offset is within `maxSkewMs`.
 */
export function skewProblem (offsetMs: number, maxSkewMs: number): string | undefined {
  if (Math.abs(offsetMs) <= maxSkewMs) return undefined
  const aheadS = Math.round(-offsetMs / 1000)
  return `clock skew ${aheadS >= 0 ? '+' : ''}${aheadS} s against the store (maxClockSkew ${maxSkewMs / 1000} s)`
}

export class StoreClock {
  readonly #clock: () => number
  readonly #maxSkewMs: number | false
  readonly #log: FastifyBaseLogger
  /** The store's clock minus this process's, as last measured (0 for stores sharing the host clock). */
  #offsetMs = 0
  /** Why this process claims nothing: its clock is too far from the store's. */
  #skew: string | undefined

  constructor (clock: () => number, maxSkewMs: number | false, log: FastifyBaseLogger) {
    this.#clock = clock
    this.#maxSkewMs = maxSkewMs
    this.#log = log
  }

  /** Now, in the store's time: this process's clock corrected by the measured offset. */
  now (): number {
    return this.#clock() + this.#offsetMs
  }

  /** Why this process claims nothing right now (its clock is too far from the store's), if it does not. */
  get skew (): string | undefined {
    return this.#skew
  }

  /** Throw StoreUnavailableError while the clock is too far from the store's. */
  refuseIfSkewed (): void {
    if (this.#skew !== undefined) throw storeUnavailable(new Error(`${this.#skew}; no task was claimed`))
  }

  /**
   * Measure the offset against `store.time()` (network stores have it; others share the host
   * clock and are never measured, nor is anything with `maxClockSkew: false`). Logs when the
   * skew begins and when it ends. Rejects when the store cannot be read.
   */
  async measure (store: Store): Promise<void> {
    const max = this.#maxSkewMs
    if (max === false || store.time === undefined) return
    const before = this.#clock()
    const storeMs = await store.time()
    const after = this.#clock()
    this.#offsetMs = Math.round(storeMs - (before + after) / 2)
    const skew = skewProblem(this.#offsetMs, max)
    if (skew !== undefined && skew !== this.#skew) {
      this.#log.error({ offsetMs: this.#offsetMs }, `fastify-scheduler: ${skew}: this process claims nothing until its clock is corrected (NTP)`)
    } else if (skew === undefined && this.#skew !== undefined) {
      this.#log.info({ offsetMs: this.#offsetMs }, 'fastify-scheduler: the clock is back within maxClockSkew of the store\'s')
    }
    this.#skew = skew
  }
}
