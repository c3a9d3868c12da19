/**
 * Time-zone arithmetic for schedules: UTC offsets, their transitions (DST and other clock
 * changes) and wall-clock → UTC conversion with the gap/overlap rules of docs/ARCHITECTURE.md#dst-and-schedules.
 *
 * A "wall" time is a local date and time encoded as if it were UTC (`Date.UTC(y, m, d, h, i)`),
 * so calendar maths on it is plain arithmetic and never calls Intl.
 *
 * Intl is slow (about a microsecond per call), so offsets are sampled once per UTC day in
 * chunks of CHUNK_DAYS days and cached per zone; a change between two samples is located to
 * the minute by bisection. Assumption: a zone changes its offset at most once per UTC day
 * (true of every transition in the tz database since 1900). Offsets are rounded to whole
 * minutes, so local mean times with seconds (before about 1900) are approximated.
 */
import { DAY, MINUTE } from '../core/time.js'
import { memoizeByKey } from './memo.js'

const CHUNK_DAYS = 32
const CHUNK_MS = CHUNK_DAYS * DAY
/** Bounds the cache for processes that ask about many far-apart instants. */
const MAX_CACHED_CHUNKS = 4096

/** A change of UTC offset at the instant `at` (whole minute, ms since epoch). */
export interface Transition {
  readonly at: number
  /** Offset in ms (local = utc + offset) just before `at`. */
  readonly before: number
  /** Offset in ms from `at` on. */
  readonly after: number
}

interface Chunk {
  readonly startOffset: number
  readonly transitions: readonly Transition[]
}

/** One IANA zone with cached offsets. Get instances through `zoneFor`. */
export class Zone {
  private readonly format: Intl.DateTimeFormat
  private readonly chunks = new Map<number, Chunk>()

  constructor (readonly name: string) {
    this.format = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric'
    })
  }

  /** UTC offset in ms at the instant `utc`. */
  offsetAt (utc: number): number {
    const chunk = this.chunk(Math.floor(utc / CHUNK_MS))
    let offset = chunk.startOffset
    for (const transition of chunk.transitions) {
      if (utc < transition.at) break
      offset = transition.after
    }
    return offset
  }

  /** The first transition with `from < at <= to`, if any. */
  firstTransitionIn (from: number, to: number): Transition | undefined {
    const last = Math.floor(to / CHUNK_MS)
    for (let index = Math.floor(from / CHUNK_MS); index <= last; index++) {
      for (const transition of this.chunk(index).transitions) {
        if (transition.at > from && transition.at <= to) return transition
      }
    }
    return undefined
  }

  /** The last transition with `from < at <= to`, if any. */
  lastTransitionIn (from: number, to: number): Transition | undefined {
    const first = Math.floor(from / CHUNK_MS)
    for (let index = Math.floor(to / CHUNK_MS); index >= first; index--) {
      const { transitions } = this.chunk(index)
      for (let i = transitions.length - 1; i >= 0; i--) {
        const transition = transitions[i]
        if (transition.at > from && transition.at <= to) return transition
      }
    }
    return undefined
  }

  /**
   * The UTC instant of a wall time (docs/ARCHITECTURE.md#dst-and-schedules, wall-clock schedules): a time that exists twice
   * resolves to its first pass; a time inside a spring-forward gap resolves to the first
   * instant after the gap (the transition itself).
   */
  wallToUtc (wall: number): number {
    // Offsets lie within ±14 h, so every candidate instant is within a day of `wall`.
    const transition = this.firstTransitionIn(wall - DAY, wall + DAY)
    if (transition === undefined) return wall - this.offsetAt(wall)
    const early = wall - transition.before
    if (early < transition.at) return early
    const late = wall - transition.after
    if (late >= transition.at) return late
    return transition.at
  }

  private chunk (index: number): Chunk {
    let chunk = this.chunks.get(index)
    if (chunk === undefined) {
      if (this.chunks.size >= MAX_CACHED_CHUNKS) this.chunks.clear()
      chunk = this.sampleChunk(index * CHUNK_MS)
      this.chunks.set(index, chunk)
    }
    return chunk
  }

  /** Samples the offset at each UTC midnight of the chunk and locates every change. */
  private sampleChunk (start: number): Chunk {
    const startOffset = this.intlOffset(start)
    const transitions: Transition[] = []
    let previous = startOffset
    for (let day = 1; day <= CHUNK_DAYS; day++) {
      const sample = start + day * DAY
      const offset = this.intlOffset(sample)
      if (offset !== previous) {
        transitions.push({ at: this.bisect(sample - DAY, sample, previous), before: previous, after: offset })
        previous = offset
      }
    }
    return { startOffset, transitions }
  }

  /** The first whole minute in (low, high] whose offset is no longer `before`. */
  private bisect (low: number, high: number, before: number): number {
    while (high - low > MINUTE) {
      const middle = low + Math.floor((high - low) / 2 / MINUTE) * MINUTE
      if (this.intlOffset(middle) === before) low = middle
      else high = middle
    }
    return high
  }

  /** The offset at `utc` read from Intl (slow: only for cache misses). */
  private intlOffset (utc: number): number {
    let year = 0; let month = 0; let day = 0; let hour = 0; let minute = 0; let second = 0
    for (const part of this.format.formatToParts(utc)) {
      switch (part.type) {
        case 'year': year = Number(part.value); break
        case 'month': month = Number(part.value); break
        case 'day': day = Number(part.value); break
        case 'hour': hour = Number(part.value); break
        case 'minute': minute = Number(part.value); break
        case 'second': second = Number(part.value); break
      }
    }
    const wall = Date.UTC(year, month - 1, day, hour, minute, second)
    return Math.round((wall - Math.floor(utc / 1000) * 1000) / MINUTE) * MINUTE
  }
}

/** The cached Zone for an IANA name. Throws a RangeError for an unknown zone. */
export const zoneFor = memoizeByKey((name) => new Zone(name))

/**
 * The canonical spelling of a valid zone name, or undefined when Intl does not know it.
 * Intl canonicalises case ('europe/berlin' → 'Europe/Berlin') but also aliases
 * ('Asia/Kolkata' → 'Asia/Calcutta'); only the case fix is kept, so users see their name.
 */
export const canonicalZoneName = memoizeByKey((name): string | undefined => {
  // Offsets such as '+05:00' are not IANA names (docs/ARCHITECTURE.md#dst-and-schedules); Intl accepts them from Node 22 on
  // (ECMA-402 offset time zones), so they are refused here for every Node alike.
  if (/^[+-]/.test(name.trim())) return undefined
  // Cached: building an Intl.DateTimeFormat costs tens of µs, and every task asks.
  try {
    const resolved = new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone
    return resolved.toLowerCase() === name.toLowerCase() ? resolved : name
  } catch {
    return undefined
  }
})

/** The process's local zone (TZ or the system setting), UTC when the runtime cannot tell. */
export function localZoneName (): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC'
}
