/**
 * Crash safety (docs/ARCHITECTURE.md#the-tick-path): a process SIGKILLed during a run leaves a 'running' record and a
 * lease; once the lease expires the next tick anywhere records the run 'abandoned', the
 * next occurrence runs, and nothing else is lost.
 */
import t, { type Test } from 'tap'
import { fork } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import fastifyScheduler from '../../plugin.js'
import { sqliteStore } from '../../plugin/stores/sqlite/index.js'
import { postgresService, redisService } from '../helpers/services.js'
import { defineTask } from '../../tasks/task.js'
import { at } from '../helpers/app.js'
import { untrackedEnv } from '../helpers/child-env.js'
import { storeOf, type StoreKind } from '../helpers/store-of.js'

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

/**
 * Issue 9: SIGKILL at random moments of ticks, on every durable store. A replica ticks
 * minute after minute and is killed 0–40 ms after it is ready, again and again. After each
 * kill, the occurrence each task last claimed has a record (a claim never lands without
 * its `running` record: they are one store step); at the end, after the leases expire and
 * another process reaps them, no record is left running and no occurrence has two records.
 */
const ticker = fileURLToPath(new URL('../fixtures/crash/ticker.ts', import.meta.url))
const ROUNDS = 4
const TASKS = ['a', 'b', 'c']

async function killRounds (t: Test, kind: StoreKind, location: string, namespace: string): Promise<void> {
  const open = () => storeOf(kind, location, namespace)
  let next = at('2026-05-11 10:00').getTime()
  const store = open()
  await store.init()
  t.teardown(() => store.close())
  let lostClaims = 0
  let ticksReached = 0
  for (let round = 0; round < ROUNDS; round++) {
    const child = fork(ticker, [kind, location, namespace, new Date(next).toISOString()], {
      env: untrackedEnv(), execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    })
    let last = next
    child.on('message', (message: { type: string, minute?: number }) => {
      if (message.type === 'tick') { last = message.minute!; ticksReached++ }
    })
    await new Promise<void>((resolve, reject) => {
      child.on('message', (message: { type: string }) => { if (message.type === 'ready') resolve() })
      child.once('exit', code => reject(new Error(`ticker exited early with ${code}`)))
    })
    await new Promise(resolve => setTimeout(resolve, Math.floor(Math.random() * 40)))
    const exited = new Promise(resolve => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
    next = last + 2 * 60_000
    const states = await store.ensureTasks(TASKS, new Date(next))
    for (const task of TASKS) {
      const claimed = states.get(task)?.lastOccurrence
      if (claimed === undefined) continue
      const { runs } = await store.listRuns({ task: [task], limit: 500 })
      if (!runs.some(run => run.scheduledFor.getTime() === claimed.getTime())) lostClaims++
    }
  }
  t.equal(lostClaims, 0, `${kind}: after ${ROUNDS} kills (${ticksReached} ticks reached), every claimed occurrence has its record`)

  // Another process, later than every lease: reaps what the kills left running.
  const app = Fastify({ logger: false })
  await app.register(fastifyScheduler, {
    dir: false,
    routes: false,
    timezone: 'UTC',
    leaseTime: '1 minute',
    clock: () => next,
    maxClockSkew: false, // time is the scenario's minute, not the servers'
    store: open(),
    tasks: TASKS.map(name => defineTask({ name, runEveryMinute: true, handle () {} }))
  })
  await app.ready()
  t.teardown(() => app.close())
  await (await app.scheduler.tick(new Date(next))).settled
  const { runs } = await app.scheduler.history({ limit: 500 })
  t.equal(runs.filter(run => run.status === 'running').length, 0, `${kind}: nothing left running once the leases expired`)
  const keys = runs.map(run => `${run.task}@${run.scheduledFor.toISOString()}`)
  // Read by `npm run reliability`.
  t.comment(`${kind}: kills ${ROUNDS}, ticks reached ${ticksReached}, claims without record ${lostClaims}, duplicates ${keys.length - new Set(keys).size}, left running ${runs.filter(run => run.status === 'running').length}, abandoned ${runs.filter(run => run.status === 'abandoned').length}`)
  t.equal(new Set(keys).size, keys.length, `${kind}: no occurrence has two records (${runs.length} records, ${runs.filter(r => r.status === 'abandoned').length} abandoned)`)
  t.ok(TASKS.every(task => runs.some(run => run.task === task && run.scheduledFor.getTime() === next && run.status === 'succeeded')), `${kind}: the next occurrence runs`)
}

t.test('SIGKILL at random moments of ticks: SQLite', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-scheduler-kill-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'state.sqlite')
  await killRounds(t, 'sqlite', path, '')
})

t.test('SIGKILL at random moments of ticks: Redis', async t => {
  const service = await redisService(t)
  if (service === undefined) return
  await killRounds(t, 'redis', service.url, service.prefix)
})

t.test('SIGKILL at random moments of ticks: PostgreSQL', async t => {
  const service = await postgresService(t)
  if (service === undefined) return
  await killRounds(t, 'postgres', service.connectionString, service.schema)
})
