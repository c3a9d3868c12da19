import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { sqliteStore } from '../../plugin/stores/sqlite.js'
import { T0, claimRace, storeConformance } from './conformance.js'
import { untrackedEnv } from '../helpers/child-env.js'

const dir = mkdtempSync(join(tmpdir(), 'fastify-scheduler-sqlite-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const newFile = (): string => join(dir, `${randomUUID()}.sqlite`)

storeConformance(t, 'sqlite', async () => sqliteStore({ path: newFile() }))

t.test('sqlite store says what it is, and checks its options', async (t) => {
  const store = sqliteStore({ path: newFile() })
  t.equal(store.kind, 'sqlite')
  t.equal(store.durable, true)
  t.throws(() => sqliteStore({ path: '' }), { code: 'FST_SCHEDULER_INVALID_OPTION' })
})

t.test("':memory:' keeps everything in this process", async (t) => {
  const store = sqliteStore({ path: ':memory:' })
  await store.init()
  t.teardown(() => store.close())
  t.equal(await store.claimOccurrence('report', new Date(T0)), true)
  t.notOk(existsSync(join(process.cwd(), ':memory:')), 'no file named :memory:')
})

t.test('the default file is ./.fastify-scheduler.sqlite, resolved against the cwd at init', async (t) => {
  const cwd = process.cwd()
  const appDir = mkdtempSync(join(dir, 'app-'))
  t.teardown(() => process.chdir(cwd))
  const store = sqliteStore()
  process.chdir(appDir)
  await store.init()
  t.teardown(() => store.close())
  t.ok(existsSync(join(appDir, '.fastify-scheduler.sqlite')))
})

t.test('state survives closing and reopening the file', async (t) => {
  const path = newFile()
  const first = sqliteStore({ path })
  await first.init()
  await first.ensureTasks(['report'], new Date(T0))
  await first.claimOccurrence('report', new Date(T0 + 60_000))
  await first.close()

  const second = sqliteStore({ path })
  await second.init()
  t.teardown(() => second.close())
  t.same((await second.ensureTasks(['report'], new Date(0))).get('report'),
    { firstSeen: new Date(T0), lastOccurrence: new Date(T0 + 60_000) })
  t.equal(await second.claimOccurrence('report', new Date(T0 + 60_000)), false)
})

t.test('two store instances on one file: one winner per occurrence', async (t) => {
  const path = newFile()
  const stores = [sqliteStore({ path }), sqliteStore({ path })]
  for (const store of stores) {
    await store.init()
    t.teardown(() => store.close())
  }
  await stores[0]!.ensureTasks(['report'], new Date(T0))
  t.equal(await claimRace(stores, 'report', new Date(T0), 100), 1)
})

/**
 * A child process: opens the file, waits for "go" on stdin, then claims one occurrence of
 * each of `OCCURRENCES` tasks and tries as many leases, and prints what it won.
 */
const CLAIMER = `
const { sqliteStore } = await import(process.env.STORE_MODULE)
const store = sqliteStore({ path: process.env.STORE_PATH })
await store.init()
const count = Number(process.env.OCCURRENCES)
const t0 = Number(process.env.T0)
const tasks = Array.from({ length: count }, (_, i) => 'task-' + i)
await store.ensureTasks(tasks, new Date(t0))
process.stdout.write('ready\\n')
process.stdin.once('data', async () => {
  const claims = []
  const leases = []
  for (let i = 0; i < count; i++) {
    if (await store.claimOccurrence(tasks[i], new Date(t0))) claims.push(i)
    if ((await store.acquireLease('lease-' + i, 'pid-' + process.pid, 60000, t0)).acquired) leases.push(i)
  }
  await store.close()
  process.stdout.write(JSON.stringify({ claims, leases }) + '\\n')
  process.stdin.destroy()
})
`

interface ClaimerResult { claims: number[], leases: number[] }

function startClaimer (path: string, occurrences: number): { ready: Promise<void>, go: () => void, result: Promise<ClaimerResult> } {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CLAIMER], {
    env: untrackedEnv({
      STORE_MODULE: fileURLToPath(new URL('../../plugin/stores/sqlite.ts', import.meta.url)),
      STORE_PATH: path,
      OCCURRENCES: String(occurrences),
      T0: String(T0)
    }),
    stdio: ['pipe', 'pipe', 'inherit']
  })
  const lines: string[] = []
  let buffered = ''
  let onLine: (() => void) | undefined
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk
    const parts = buffered.split('\n')
    buffered = parts.pop()!
    lines.push(...parts)
    onLine?.()
  })
  const ready = new Promise<void>((resolve) => { onLine = () => { if (lines.length >= 1) resolve() } })
  const result = new Promise<ClaimerResult>((resolve, reject) => {
    child.on('exit', (code) => {
      if (code !== 0 || lines.length < 2) reject(new Error(`claimer exited with ${code}: ${lines.join('\n')}`))
      else resolve(JSON.parse(lines[1]!) as ClaimerResult)
    })
  })
  return { ready, go: () => child.stdin.write('go\n'), result }
}

t.test('three processes on one file: each occurrence and each lease is won exactly once', async (t) => {
  const path = newFile()
  const occurrences = 200
  const claimers = [startClaimer(path, occurrences), startClaimer(path, occurrences), startClaimer(path, occurrences)]
  await Promise.all(claimers.map((c) => c.ready))
  for (const c of claimers) c.go()
  const results = await Promise.all(claimers.map((c) => c.result))

  const claims = results.flatMap((r) => r.claims).sort((a, b) => a - b)
  const leases = results.flatMap((r) => r.leases).sort((a, b) => a - b)
  const everyOne = Array.from({ length: occurrences }, (_, i) => i)
  t.same(claims, everyOne, 'every occurrence is claimed by exactly one process')
  t.same(leases, everyOne, 'every lease is taken by exactly one process')
  t.comment(`wins per process: ${results.map((r) => r.claims.length).join(', ')}`)
})

t.test('a file that cannot be opened is reported as the store being unavailable', async (t) => {
  const store = sqliteStore({ path: dir }) // a directory, not a database file
  await t.rejects(store.init(), { code: 'FST_SCHEDULER_STORE_UNAVAILABLE' })
  await t.rejects(store.claimOccurrence('report', new Date(T0)), { code: 'FST_SCHEDULER_STORE_UNAVAILABLE' },
    'calls on a store that is not open reject with the coded error')
  await store.close()
})
