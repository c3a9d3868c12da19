/**
 * Boot cost: `ready()` of an app whose tasks folder holds 1,000 generated JavaScript task
 * files (SQLite store, routes with token auth) against importing the same files and
 * readying a bare Fastify. Each boot runs in a fresh process (the module cache would
 * otherwise make the second import free); the time is measured inside the child, from
 * before `Fastify()` to after `ready()`, with Fastify and the plugin already imported.
 *
 *   npx tsx bench/boot.ts [--json]
 */
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { quietSchedules, writeTaskFiles } from './fixtures/schedules.js'
import { alternate, figure, goal, round, lastJsonLine, progress, runAlone, runNode, tempDir, tsxNode, type Figures } from './util.js'

const TASK_FILES = 1000
const ROUNDS = 7
const COMMAND = 'npx tsx bench/boot.ts'

export const BOOT_GOALS = { bootVsBareImport: goal('<=', 1.5, '× (ours ÷ import + bare ready)', COMMAND) }
const child = fileURLToPath(new URL('./fixtures/boot-child.ts', import.meta.url))

export async function benchBoot (): Promise<Figures> {
  progress(`boot: ${TASK_FILES} task files, ${ROUNDS} fresh processes per side`)
  const temp = tempDir('boot')
  try {
    const tasksDir = join(temp.dir, 'tasks')
    writeTaskFiles(tasksDir, quietSchedules(TASK_FILES, new Date().getUTCHours()))
    const sqlite = join(temp.dir, 'boot.sqlite')
    const bootMs = async (side: 'ours' | 'bare'): Promise<number> => {
      const { stdout } = await runNode(tsxNode(child, [side, tasksDir, sqlite]))
      const result = lastJsonLine<{ ms: number, tasks?: number }>(stdout)
      if (side === 'ours' && result.tasks !== TASK_FILES) throw new Error(`boot: ${result.tasks ?? 0} tasks registered, expected ${TASK_FILES}`)
      return result.ms
    }
    // The first boot creates the SQLite file; the measured ones are restarts, as in production.
    await bootMs('ours')
    await bootMs('bare')
    const measured = await alternate(ROUNDS, () => bootMs('ours'), () => bootMs('bare'))
    return {
      bootVsBareImport: figure(measured.ours / measured.baseline, BOOT_GOALS.bootVsBareImport, {
        oursMs: round(measured.ours),
        bareMs: round(measured.baseline),
        taskFiles: TASK_FILES,
        rounds: ROUNDS
      })
    }
  } finally {
    temp.remove()
  }
}

runAlone(import.meta.url, benchBoot)
