/**
 * A per-key cache for pure, costly constructions (compiled cron patterns, zones, zone
 * names): each key is built once, then shared. A construction that throws is not cached.
 */
export function memoizeByKey<V> (make: (key: string) => V): (key: string) => V {
  const cache = new Map<string, V>()
  return (key) => {
    if (cache.has(key)) return cache.get(key) as V
    const value = make(key)
    cache.set(key, value)
    return value
  }
}
