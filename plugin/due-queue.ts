/**
 * A min-heap of (task name, due instant). The scheduler keeps every schedulable task in it,
 * so a tick in which nothing is due reads one number and touches no store.
 *
 * Entries are replaced lazily: `set()` pushes a new entry and bumps the name's version;
 * stale entries are dropped when they reach the top.
 */
interface Entry {
  dueAt: number
  name: string
  version: number
}

export class DueQueue {
  #heap: Entry[] = []
  #versions = new Map<string, number>()

  /** Schedule `name` at `dueAt` (ms), replacing any earlier entry for it. */
  set (name: string, dueAt: number): void {
    const version = (this.#versions.get(name) ?? 0) + 1
    this.#versions.set(name, version)
    this.#push({ dueAt, name, version })
    if (this.#heap.length > 2 * this.#versions.size + 64) this.#compact()
  }

  /** The earliest due instant, or Infinity when empty. */
  peek (): number {
    this.#dropStale()
    return this.#heap.length === 0 ? Infinity : this.#heap[0].dueAt
  }

  /** Remove and return every name due at or before `now`, earliest first. */
  popDue (now: number): string[] {
    const due: string[] = []
    while (this.peek() <= now) {
      const top = this.#pop()
      this.#versions.delete(top.name)
      due.push(top.name)
    }
    return due
  }

  /** Rebuild the heap from live entries so replaced ones cannot pile up. */
  #compact (): void {
    const live = this.#heap.filter(entry => this.#versions.get(entry.name) === entry.version)
    this.#heap = []
    for (const entry of live) this.#push(entry)
  }

  #dropStale (): void {
    while (this.#heap.length > 0) {
      const top = this.#heap[0]
      if (this.#versions.get(top.name) === top.version) return
      this.#pop()
    }
  }

  #push (entry: Entry): void {
    const heap = this.#heap
    heap.push(entry)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (heap[parent].dueAt <= entry.dueAt) break
      heap[i] = heap[parent]
      i = parent
    }
    heap[i] = entry
  }

  #pop (): Entry {
    const heap = this.#heap
    const top = heap[0]
    const last = heap.pop() as Entry
    if (heap.length > 0) {
      let i = 0
      for (;;) {
        const left = 2 * i + 1
        if (left >= heap.length) break
        const right = left + 1
        const child = right < heap.length && heap[right].dueAt < heap[left].dueAt ? right : left
        if (heap[child].dueAt >= last.dueAt) break
        heap[i] = heap[child]
        i = child
      }
      heap[i] = last
    }
    return top
  }
}
