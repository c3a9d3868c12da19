/**
 * Whatever a task throws — `null`, a string, an object without prototype, a revoked Proxy,
 * an Error whose `message` getter or `toString` throws, a 5 MB message — becomes a printable,
 * bounded message (and a stack when there is one). Reading the value can itself throw, so
 * every access is guarded: describing a failure must never become a second failure.
 */

/** Longest message kept in a run record; the rest is cut with a note. */
export const MAX_MESSAGE_LENGTH = 4000
/** Longest stack kept in a run record. */
export const MAX_STACK_LENGTH = 16_000

export interface ThrownDescription {
  message: string
  stack?: string
}

/** `text` without NUL characters (PostgreSQL refuses them), cut to `max` characters. */
export function bounded (text: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.includes('\u0000') ? text.replace(/\u0000/g, '\\0') : text
  return clean.length <= max ? clean : `${clean.slice(0, max)}… (${clean.length - max} more characters)`
}

function attempt<T> (read: () => T): T | undefined {
  try {
    return read()
  } catch {
    return undefined
  }
}

/** A string from any value, or undefined when even that throws. */
function safeString (value: unknown): string | undefined {
  if (typeof value === 'string') return value
  return attempt(() => String(value))
}

/** `text` unless it says nothing (`[object Object]`, `{}`, empty). */
function useful (text: string | undefined): string | undefined {
  return text === undefined || text === '' || text === '{}' || text === '[object Object]' ? undefined : text
}

/** Describe any thrown value for a run record and a log line. Never throws. */
export function describeThrown (value: unknown): ThrownDescription {
  if (value === null || value === undefined) return { message: `the task threw ${String(value)}` }
  if (typeof value !== 'object' && typeof value !== 'function') {
    return { message: bounded(safeString(value) ?? 'the task threw a value that cannot be printed', MAX_MESSAGE_LENGTH) }
  }
  const message = attempt(() => (value as { message?: unknown }).message)
  const stack = attempt(() => (value as { stack?: unknown }).stack)
  const name = attempt(() => (value as { name?: unknown }).name)
  let text: string | undefined
  if (typeof message === 'string') {
    text = message
  } else if (message !== undefined && message !== null) {
    text = attempt(() => JSON.stringify(message)) ?? safeString(message)
  }
  if (text === undefined || text === '') text = useful(safeString(value))
  if (text === undefined) text = useful(attempt(() => JSON.stringify(value)))
  if (text === undefined) {
    text = typeof name === 'string' && name !== '' ? `${name} (its message could not be read)` : 'the task threw a value that cannot be printed'
  }
  if (typeof name === 'string' && name !== '' && name !== 'Error' && !text.startsWith(name)) text = `${name}: ${text}`
  const out: ThrownDescription = { message: bounded(text, MAX_MESSAGE_LENGTH) }
  if (typeof stack === 'string' && stack !== '') out.stack = bounded(stack, MAX_STACK_LENGTH)
  return out
}

/**
 * An Error standing for a thrown value, safe to hand to a logger (pino reads `message` and
 * `stack`, which could throw on the original).
 */
export function loggableError (value: unknown): Error {
  // Even `instanceof` throws on a revoked Proxy.
  if (attempt(() => value instanceof Error && typeof value.message === 'string' && typeof value.stack === 'string') === true) return value as Error
  const { message, stack } = describeThrown(value)
  const error = new Error(message)
  if (stack !== undefined) error.stack = stack
  return error
}
