/**
 * Wall time of `fastify-scheduler run` on a JavaScript app (spawn to exit) against a script
 * that only builds and readies the same app, both started with `node --import tsx` so the
 * loader costs the same. The app (generated in a temp folder) registers the scheduler with
 * a SQLite store and a tasks folder of plain JavaScript task files, none due.
 *
 *   npx tsx bench/cli.ts [--json]
 */
import { existsSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { quietSchedules, writeTaskFiles } from './fixtures/schedules.js'
import { alternate, figure, goal, progress, ROOT, round, runAlone, runNode, tempDir, tsxNode, unmeasured, type Figures } from './util.js'

const ROUNDS = 6
const TASK_FILES = 5
const COMMAND = 'npx tsx bench/cli.ts'

export const CLI_GOALS = { cliRunVsBareReady: goal('<=', 1.3, '× (run ÷ build + ready)', COMMAND) }
const cliEntry = join(ROOT, 'cli', 'index.ts')
const bareScript = fileURLToPath(new URL('./fixtures/cli-bare.ts', import.meta.url))

/** A small JavaScript app in `dir`: build() registers the scheduler (SQLite, tasks/ beside it) and one route. */
function writeApp (dir: string): string {
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir')
  writeTaskFiles(join(dir, 'tasks'), quietSchedules(TASK_FILES, new Date().getUTCHours()))
  const file = join(dir, 'app.mjs')
  writeFileSync(file, `import { join } from 'node:path'
import Fastify from 'fastify'
import { fastifyScheduler, sqliteStore } from ${JSON.stringify(pathToFileURL(join(ROOT, 'index.ts')).href)}

const here = import.meta.dirname
export async function build (options) {
  const app = Fastify(options)
  await app.register(fastifyScheduler, { dir: join(here, 'tasks'), store: sqliteStore({ path: join(here, 'state.sqlite') }) })
  app.get('/', async () => ({ hello: 'world' }))
  return app
}
`)
  return file
}

export async function benchCli (): Promise<Figures> {
  if (!existsSync(cliEntry)) {
    return { cliRunVsBareReady: unmeasured(CLI_GOALS.cliRunVsBareReady, 'cli/index.ts has not landed') }
  }
  progress(`cli: fastify-scheduler run vs build + ready, ${ROUNDS} processes per side`)
  const temp = tempDir('cli')
  try {
    const app = writeApp(temp.dir)
    const options = { cwd: temp.dir, env: { ...process.env, SCHEDULE_TOKEN: 'bench-token-0123456789abcdef' } }
    const run = async (): Promise<number> => {
      const { wallMs, stdout } = await runNode(tsxNode(cliEntry, ['run', '--app', app]), options)
      if (!stdout.startsWith('nothing due')) throw new Error(`fastify-scheduler run printed ${JSON.stringify(stdout.slice(0, 200))}; expected "nothing due"`)
      return wallMs
    }
    const bare = async (): Promise<number> => (await runNode(tsxNode(bareScript, [app]), options)).wallMs
    // The first run creates the SQLite file and registers the tasks; measured runs are the minute-by-minute ones.
    await run()
    await bare()
    const measured = await alternate(ROUNDS, run, bare)
    return {
      cliRunVsBareReady: figure(measured.ours / measured.baseline, CLI_GOALS.cliRunVsBareReady, {
        runMs: round(measured.ours), buildAndReadyMs: round(measured.baseline), rounds: ROUNDS
      })
    }
  } finally {
    temp.remove()
  }
}

runAlone(import.meta.url, benchCli)
