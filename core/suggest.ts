/**
 * "Did you mean …?" for option and property names: masonite ignored typos for years;
 * we name the closest accepted spelling instead.
 */

/** Lower-case and drop `_`, `-` and spaces: `run_every` and `RunEvery` both become `runevery`. */
export function normalizeName (name: string): string {
  return name.toLowerCase().replace(/[_\-\s]/g, '')
}

/** Levenshtein distance, small strings only. */
export function editDistance (a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, substitution)
    }
    previous = current
  }
  return previous[b.length]
}

/**
 * The accepted name `input` most likely meant: same after normalisation, or within edit
 * distance 2 of one; undefined when nothing is close.
 */
export function suggest (input: string, accepted: readonly string[]): string | undefined {
  const wanted = normalizeName(input)
  let best: string | undefined
  let bestDistance = 3
  for (const name of accepted) {
    const distance = editDistance(wanted, normalizeName(name))
    if (distance < bestDistance) {
      best = name
      bestDistance = distance
    }
  }
  return best
}
