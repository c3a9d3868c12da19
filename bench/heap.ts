/**
 * Heap added per registered task at 10,000 tasks: a child process started with
 * `--expose-gc` measures the heap after a full GC before and after building a ready app
 * with 10,000 tasks that has ticked once (bench/fixtures/heap-child.ts). Median of rounds.
 *
 *   npx tsx bench/heap.ts [--json]
 */
import { fileURLToPath } from 'node:url'
import { figure, goal, lastJsonLine, median, progress, runAlone, runNode, tsxNode, type Figures } from './util.js'

const TASKS = 10_000
const ROUNDS = 3
const COMMAND = 'npx tsx bench/heap.ts'

export const HEAP_GOALS = { heapPerTaskBytes: goal('<=', 3000, 'bytes', COMMAND) }
const child = fileURLToPath(new URL('./fixtures/heap-child.ts', import.meta.url))

export async function benchHeap (): Promise<Figures> {
  progress(`heap: ${TASKS} tasks, ${ROUNDS} processes`)
  const samples: number[] = []
  for (let i = 0; i < ROUNDS; i++) {
    const { stdout } = await runNode(tsxNode(child, [String(TASKS)], ['--expose-gc']))
    samples.push(lastJsonLine<{ bytesPerTask: number }>(stdout).bytesPerTask)
  }
  return {
    heapPerTaskBytes: figure(median(samples), HEAP_GOALS.heapPerTaskBytes, { tasks: TASKS, rounds: samples.map(Math.round) })
  }
}

runAlone(import.meta.url, benchHeap)
