/**
 * Crash safety (SPEC §4): a process SIGKILLed during a run leaves a 'running' record and a
 * lease; once the lease expires the next tick anywhere records the run 'abandoned', the
 * next occurrence runs, and nothing else is lost.
 */
import t from 'tap'
import { fork } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import fastifyScheduler from '../../plugin/index.js'
import { sqliteStore } from '../../plugin/stores/sqlite.js'
import { defineTask } from '../../tasks/task.js'
import { at } from '../helpers/app.js'
import { untrackedEnv } from '../helpers/child-env.js'

const crasher = fileURLToPath(new URL('../fixtures/crash/crasher.ts', import.meta.url))

t.test('a run killed with SIGKILL is recorded abandoned after its lease, and the task runs again', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-scheduler-crash-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'state.sqlite')

  const child = fork(crasher, [path, at('2026-05-11 10:00').toISOString()], {
    env: untrackedEnv(), execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  const started = await new Promise<{ runId: string }>((resolve, reject) => {
    child.once('message', resolve)
    child.once('exit', code => reject(new Error(`crasher exited early with ${code}`)))
  })
  child.kill('SIGKILL')
  await new Promise(resolve => child.once('exit', resolve))

  let hangRuns = 0
  const app = Fastify({ logger: false })
  await app.register(fastifyScheduler, {
    dir: false,
    routes: false,
    timezone: 'UTC',
    leaseTime: '2 seconds',
    // This process's clock is 10 s ahead: the dead process's 2 s lease has expired.
    clock: () => Date.now() + 10_000,
    store: sqliteStore({ path }),
    tasks: [
      defineTask({ name: 'hang', runEveryMinute: true, handle () { hangRuns++ } }),
      defineTask({ name: 'quick', runEveryMinute: true, handle () {} })
    ]
  })
  await app.ready()
  t.teardown(() => app.close())

  const before = await app.scheduler.list(at('2026-05-11 10:00'))
  const hang = before.tasks.find(task => task.name === 'hang')
  t.equal(hang?.lastRun?.status, 'abandoned', 'the listing reaps the expired lease')

  const outcomes = await (await app.scheduler.tick(at('2026-05-11 10:01'))).settled
  t.same(outcomes.map(o => [o.task, o.status]).sort(), [['hang', 'succeeded'], ['quick', 'succeeded']])
  t.equal(hangRuns, 1)

  const history = await app.scheduler.history()
  const crashed = history.runs.find(run => run.id === started.runId)
  t.equal(crashed?.status, 'abandoned')
  t.equal(crashed?.scheduledFor.toISOString(), '2026-05-11T10:00:00.000Z')
  const quickRuns = history.runs.filter(run => run.task === 'quick').map(run => [run.status, run.scheduledFor.toISOString()])
  t.same(quickRuns, [
    ['succeeded', '2026-05-11T10:01:00.000Z'],
    ['succeeded', '2026-05-11T10:00:00.000Z']
  ], 'the run that finished before the crash is still recorded')
  t.equal(history.runs.filter(run => run.status === 'abandoned').length, 1, 'abandoned exactly once')
})
