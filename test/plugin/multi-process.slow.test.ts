/**
 * Exactly once across replicas (docs/ARCHITECTURE.md#the-tick-path): three real child processes share one store
 * (SQLite file, then Redis, then PostgreSQL), 20 tasks of mixed schedules, 240 simulated
 * minutes across the Europe/Berlin spring-forward gap, advanced in lock-step. Every process
 * fires several concurrent ticks per minute at random seconds; some minutes nobody ticks.
 * Every owed occurrence must run (or be recorded missed, per catchUp) exactly once.
 */
import t, { type Test } from 'tap'
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { compileSchedule } from '../../tasks/schedule.js'
import { parseDuration } from '../../tasks/duration.js'
import { REPLICA_TIMEZONE, replicaSchedules } from '../fixtures/replica/tasks.js'
import { postgresService, redisService } from '../helpers/services.js'
import { untrackedEnv } from '../helpers/child-env.js'

const REPLICAS = 3
const MINUTES = 240
const TICKS_PER_MINUTE = 3
const START = Date.parse('2026-03-28T23:00:00Z') // 00:00 Berlin; the gap is at 01:00Z
const replicaScript = fileURLToPath(new URL('../fixtures/replica/replica.ts', import.meta.url))

/** A small seeded generator so a failure can be replayed. */
function random (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let x = state
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

interface Ran { task: string, scheduledFor: string, status: string }
type Reply = { type: 'ready' } | { type: 'ticked', ran: Ran[] } | { type: 'error', message: string }

function startReplica (args: string[]): ChildProcess {
  return fork(replicaScript, args, { env: untrackedEnv(), execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
}

function nextReply (child: ChildProcess): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`replica exited with ${code}`))
    child.once('exit', onExit)
    child.once('message', (message: Reply) => {
      child.off('exit', onExit)
      if (message.type === 'error') reject(new Error(message.message))
      else resolve(message)
    })
  })
}

/** Which minutes every replica skips: about one in six, in runs, sometimes several in a row. */
function skippedMinutes (rand: () => number): Set<number> {
  const skipped = new Set<number>()
  for (let minute = 1; minute < MINUTES; minute++) {
    if (rand() < 0.04) {
      const run = 1 + Math.floor(rand() * 6)
      for (let i = 0; i < run; i++) skipped.add(minute + i)
    }
  }
  return skipped
}

/** What each (task, occurrence) is owed given the ticked minutes: 'run' or 'missed'. */
function expectedOutcomes (ticked: number[]): Map<string, 'run' | 'missed'> {
  const expected = new Map<string, 'run' | 'missed'>()
  for (const definition of replicaSchedules) {
    const schedule = compileSchedule(definition, { timezone: REPLICA_TIMEZONE })
    const catchUpMs = definition.catchUp === undefined || definition.catchUp === true
      ? Infinity
      : definition.catchUp === false ? 0 : parseDuration(definition.catchUp, 'catchUp')
    const firstSeen = ticked[0]
    for (const minute of ticked) {
      const occurrence = schedule.previous(new Date(minute))
      if (occurrence === undefined || occurrence.getTime() < firstSeen) continue
      const key = `${definition.name} ${occurrence.toISOString()}`
      if (expected.has(key)) continue // claimed by the earliest tick that saw it
      expected.set(key, minute - occurrence.getTime() <= catchUpMs ? 'run' : 'missed')
    }
  }
  return expected
}

async function simulate (t: Test, args: string[], seed: number): Promise<void> {
  const rand = random(seed)
  const children = Array.from({ length: REPLICAS }, () => startReplica(args))
  t.teardown(() => { for (const child of children) if (child.exitCode === null) child.kill('SIGKILL') })
  await Promise.all(children.map(nextReply))

  const skipped = skippedMinutes(rand)
  const ticked: number[] = []
  const seen = new Map<string, string[]>()
  for (let minute = 0; minute < MINUTES; minute++) {
    if (skipped.has(minute)) continue
    const minuteStart = START + minute * 60_000
    ticked.push(minuteStart)
    const replies = children.map(child => {
      const reply = nextReply(child)
      const times = Array.from({ length: TICKS_PER_MINUTE }, () => new Date(minuteStart + Math.floor(rand() * 60_000)).toISOString())
      child.send({ type: 'tick', times })
      return reply
    })
    for (const reply of await Promise.all(replies)) {
      if (reply.type !== 'ticked') continue
      for (const ran of reply.ran) {
        const key = `${ran.task} ${ran.scheduledFor}`
        seen.set(key, [...(seen.get(key) ?? []), ran.status])
      }
    }
  }
  await Promise.all(children.map(child => new Promise(resolve => {
    child.once('exit', resolve)
    child.send({ type: 'close' })
  })))

  const expected = expectedOutcomes(ticked)
  let runs = 0
  let duplicates = 0
  let misses = 0
  let wrong = 0
  for (const [key, statuses] of seen) {
    runs += statuses.length
    if (statuses.length > 1) duplicates += statuses.length - 1
    const want = expected.get(key)
    const got = statuses[0] === 'missed' ? 'missed' : 'run'
    if (want === undefined || want !== got || (got === 'run' && statuses[0] !== 'succeeded')) {
      wrong++
      t.comment(`unexpected: ${key} → ${statuses.join(',')} (expected ${want ?? 'nothing'})`)
    }
  }
  for (const key of expected.keys()) {
    if (!seen.has(key)) {
      misses++
      t.comment(`never handled: ${key} (expected ${expected.get(key) ?? ''})`)
    }
  }
  const summary = `${REPLICAS} replicas × ${TICKS_PER_MINUTE} concurrent ticks × ${MINUTES} minutes ` +
    `(${MINUTES - ticked.length} skipped by everyone): runs ${runs}, duplicates ${duplicates}, misses ${misses}, unexpected ${wrong}`
  t.comment(summary)
  t.ok(expected.size > 400, `enough owed occurrences (${expected.size})`)
  t.equal(duplicates, 0, 'no occurrence ran twice')
  t.equal(misses, 0, 'no owed occurrence was lost')
  t.equal(wrong, 0, 'nothing ran that was not owed, and catchUp decided run vs missed')
}

t.test('SQLite file shared by three processes', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-scheduler-mp-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  await simulate(t, ['sqlite', join(dir, 'shared.sqlite')], 1)
})

t.test('Redis shared by three processes', async t => {
  const redis = await redisService(t)
  if (redis === undefined) return
  await simulate(t, ['redis', redis.url, redis.prefix], 2)
})

t.test('PostgreSQL shared by three processes', async t => {
  const postgres = await postgresService(t)
  if (postgres === undefined) return
  await simulate(t, ['postgres', postgres.connectionString, postgres.schema], 3)
})
