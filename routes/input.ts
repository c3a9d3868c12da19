/**
 * Normalise the loose spellings the routes accept (lists as repeated parameters or
 * comma-separated text, booleans as text) once the schema has checked their shape.
 */

/** `'a,b'`, `['a', 'b,c']` → `['a', 'b', 'c']`: trimmed, without empties or repeats. */
export function splitList (value: string | readonly string[]): string[] {
  const items = (typeof value === 'string' ? [value] : value).flatMap(item => item.split(','))
  return [...new Set(items.map(item => item.trim()).filter(item => item !== ''))]
}

/** A flag as the schema admits it (boolean, 'true', 'false', '1', '0'), or `fallback` when absent. */
export function parseFlag (value: boolean | string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback
  return value === true || value === 'true' || value === '1'
}
