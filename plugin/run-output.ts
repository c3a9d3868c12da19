/**
 * Each run's output (docs/RUN-OUTPUT.md): what a task logs through `ctx.log` while it runs is
 * also kept, as text lines, with the run's record. `ctx.log` is a thin wrapper of the run's
 * child logger: every call goes to the app's logger unchanged, and is also written as one
 * line into a bounded buffer that keeps the LAST lines up to `maxBytes`.
 *
 * Redaction: the line's object is serialized by the app logger's own stringifier when it is
 * a pino logger with `redact` paths (the same censor the log lines get), and in any case keys
 * that hold credentials (`authorization`, `cookie`, `password`, `token`, `secret`, …) and
 * `token=` in URLs are censored, so the output shown in the dashboard or sent to a heartbeat
 * URL holds no secret the app's logs would not.
 */
import { format } from 'node:util'
import type { FastifyBaseLogger } from 'fastify'

/** Default bound of a run's output. */
export const DEFAULT_OUTPUT_BYTES = 8192

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const
type Level = (typeof LEVELS)[number]
const CENSOR = '[Redacted]'
const SECRET_KEY = /^(authorization|proxy-authorization|cookie|set-cookie|password|passwd|secret|token|api[-_]?key|access[-_]?token|refresh[-_]?token|client[-_]?secret)$/i
const SECRET_QUERY = /([?&](?:token|access_token|api_key|apikey|key|secret|password|sig|signature)=)[^&#\s"]*/gi

/** The pino stringifier that applies the logger's `redact` paths, if the logger is a pino logger that has one. */
function pinoStringify (log: unknown): ((obj: object) => string) | undefined {
  for (let o = log; o !== null && o !== undefined && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const sym of Object.getOwnPropertySymbols(o)) {
      if (sym.description !== 'pino.formatOpts') continue
      const stringify = (o as Record<symbol, { stringify?: unknown } | undefined>)[sym]?.stringify
      return typeof stringify === 'function' ? stringify as (obj: object) => string : undefined
    }
  }
  return undefined
}

/** A value made safe to show: credentials censored by key, secrets cut from URLs, errors as message and stack. */
function scrub (value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.replace(SECRET_QUERY, `$1${CENSOR}`)
  if (value instanceof Error) return { type: value.name, message: scrub(value.message), ...(value.stack !== undefined ? { stack: scrub(value.stack) } : {}) }
  if (typeof value !== 'object' || value === null || depth > 6) return value
  if (value instanceof Date) return value
  if (Array.isArray(value)) return value.map(item => scrub(item, depth + 1))
  const out: Record<string, unknown> = {}
  for (const [key, inner] of Object.entries(value)) out[key] = SECRET_KEY.test(key) ? CENSOR : scrub(inner, depth + 1)
  return out
}

/** The last lines of a run's log, at most `maxBytes` (UTF-8) in all. */
export class RunOutput {
  readonly #maxBytes: number
  readonly #lines: string[] = []
  #bytes = 0
  #dropped = 0

  constructor (maxBytes: number) {
    this.#maxBytes = maxBytes
  }

  push (line: string): void {
    let text = line
    let size = Buffer.byteLength(text)
    if (size > this.#maxBytes) {
      // One line longer than the bound keeps its beginning (where the message is).
      text = Buffer.from(text).subarray(0, Math.max(0, this.#maxBytes - 4)).toString().replace(/\uFFFD$/, '') + ' …'
      size = Buffer.byteLength(text)
    }
    this.#lines.push(text)
    this.#bytes += size + 1
    while (this.#bytes > this.#maxBytes && this.#lines.length > 1) {
      this.#bytes -= Buffer.byteLength(this.#lines.shift()!) + 1
      this.#dropped++
    }
  }

  /** The kept lines, oldest first, after a line saying how many earlier ones were dropped; undefined when nothing was logged. */
  text (): string | undefined {
    if (this.#lines.length === 0) return undefined
    if (this.#dropped === 0) return this.#lines.join('\n')
    // The line saying what was dropped counts in the bound too.
    const lines = [...this.#lines]
    let dropped = this.#dropped
    const head = (): string => `… ${dropped} earlier line${dropped === 1 ? '' : 's'} dropped`
    let bytes = this.#bytes
    while (lines.length > 1 && bytes + Buffer.byteLength(head()) > this.#maxBytes) {
      bytes -= Buffer.byteLength(lines.shift()!) + 1
      dropped++
    }
    return [head(), ...lines].join('\n')
  }
}

/**
 * `log` as `ctx.log`: every call is passed to `log` as it is, and also written to `output`
 * as `<ISO time> <LEVEL> <message> <redacted JSON of the other fields>`. Levels from `info`
 * up are always kept (also when the app's logger is off); `debug` and `trace` when the
 * logger writes them.
 */
export function capturingLogger (log: FastifyBaseLogger, output: RunOutput, clock: () => number, stringify = pinoStringify(log)): FastifyBaseLogger {
  const capture = (level: Level, args: unknown[]): void => {
    if ((level === 'debug' || level === 'trace') && !((log as { isLevelEnabled?: (l: string) => boolean }).isLevelEnabled?.(level) ?? false)) return
    let fields: Record<string, unknown> | undefined
    let rest = args
    if (typeof args[0] === 'object' && args[0] !== null) {
      fields = args[0] instanceof Error ? { err: args[0] } : { ...args[0] as Record<string, unknown> }
      rest = args.slice(1)
      if (rest.length === 0 && args[0] instanceof Error) rest = [args[0].message]
    }
    let message = rest.length === 0 ? '' : format(...rest)
    if (fields !== undefined && typeof fields.msg === 'string' && message === '') {
      message = fields.msg
      delete fields.msg
    }
    let json = ''
    if (fields !== undefined && Object.keys(fields).length > 0) {
      const safe = scrub(fields) as object
      try {
        json = ' ' + (stringify === undefined ? JSON.stringify(safe) : stringify(safe))
      } catch {
        json = ' [unserializable]'
      }
    }
    output.push(`${new Date(clock()).toISOString()} ${level.toUpperCase()} ${scrub(message) as string}${json}`)
  }
  const wrapper = Object.create(log) as FastifyBaseLogger
  for (const level of LEVELS) {
    const original = log[level]
    Object.defineProperty(wrapper, level, {
      value (...args: unknown[]) {
        try {
          capture(level, args)
        } catch { /* the output is a convenience: it never breaks a log call */ }
        return (original as (...a: unknown[]) => void).apply(log, args)
      },
      enumerable: false
    })
  }
  Object.defineProperty(wrapper, 'child', {
    value (bindings: Record<string, unknown>, options?: object) {
      return capturingLogger(log.child(bindings, options), output, clock, stringify)
    }
  })
  return wrapper
}
