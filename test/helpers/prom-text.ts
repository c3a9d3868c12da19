/**
 * A Prometheus text-format (0.0.4) parser for tests: families with their HELP and TYPE, and
 * samples with labels and values. Strict: a sample before its family's TYPE, a TYPE or HELP
 * twice, an unknown type, a malformed line or label, or a name that is not a valid metric
 * name throws, so a test that parses also lints.
 */
export type PromType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'

export interface PromSample {
  name: string
  labels: Record<string, string>
  value: number
}

export interface PromFamily {
  name: string
  help: string | undefined
  type: PromType | undefined
  samples: PromSample[]
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const TYPES = new Set<PromType>(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

function parseValue (text: string, line: string): number {
  if (text === '+Inf') return Infinity
  if (text === '-Inf') return -Infinity
  if (text === 'NaN') return NaN
  const value = Number(text)
  if (text === '' || Number.isNaN(value)) throw new Error(`bad value in: ${line}`)
  return value
}

function unescape (text: string): string {
  return text.replace(/\\(.)/g, (_, c: string) => c === 'n' ? '\n' : c)
}

/** Labels of `{a="x",b="y"}` (the braces stripped), escapes resolved. */
function parseLabels (text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {}
  const re = /\s*([^=\s]+)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y
  let pos = 0
  while (pos < text.length) {
    re.lastIndex = pos
    const m = re.exec(text)
    if (m === null) throw new Error(`bad labels in: ${line}`)
    const [, name, value] = m
    if (!LABEL_NAME.test(name!)) throw new Error(`bad label name "${name}" in: ${line}`)
    if (name! in labels) throw new Error(`label "${name}" twice in: ${line}`)
    labels[name!] = unescape(value!)
    pos = re.lastIndex
  }
  return labels
}

/** The family a sample belongs to: histogram and summary samples carry suffixes. */
function familyOf (sample: string, families: Map<string, PromFamily>): PromFamily | undefined {
  const direct = families.get(sample)
  if (direct !== undefined) return direct
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sample.endsWith(suffix)) continue
    const family = families.get(sample.slice(0, -suffix.length))
    if (family !== undefined && (family.type === 'histogram' || (family.type === 'summary' && suffix !== '_bucket'))) return family
  }
  return undefined
}

/** Parse a whole exposition; throws on anything malformed. */
export function parsePromText (text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>()
  const family = (name: string): PromFamily => {
    if (!NAME.test(name)) throw new Error(`bad metric name "${name}"`)
    let f = families.get(name)
    if (f === undefined) {
      f = { name, help: undefined, type: undefined, samples: [] }
      families.set(name, f)
    }
    return f
  }
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    let m = /^# HELP (\S+) (.*)$/.exec(line)
    if (m !== null) {
      const f = family(m[1]!)
      if (f.help !== undefined) throw new Error(`HELP twice for ${f.name}`)
      f.help = unescape(m[2]!)
      continue
    }
    m = /^# TYPE (\S+) (\S+)$/.exec(line)
    if (m !== null) {
      const f = family(m[1]!)
      if (f.type !== undefined) throw new Error(`TYPE twice for ${f.name}`)
      if (f.samples.length > 0) throw new Error(`TYPE after samples for ${f.name}`)
      if (!TYPES.has(m[2] as PromType)) throw new Error(`unknown type "${m[2]}" for ${f.name}`)
      f.type = m[2] as PromType
      continue
    }
    if (line.startsWith('#')) continue
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+(-?\d+))?$/.exec(line)
    if (m === null) throw new Error(`malformed line: ${line}`)
    const name = m[1]!
    const f = familyOf(name, families)
    if (f === undefined) throw new Error(`sample ${name} before its family's TYPE`)
    f.samples.push({ name, labels: m[2] === undefined ? {} : parseLabels(m[2], line), value: parseValue(m[3]!, line) })
  }
  return families
}

/** The value of the one sample named `name` whose labels include `labels`; undefined if none. */
export function sampleValue (families: Map<string, PromFamily>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value
    }
  }
  return undefined
}
