/**
 * A SQLite store that cannot be opened (serverless and read-only hosts): the error is coded
 * FST_SCHEDULER_STORE_OPEN and names the absolute path, the reason and the way out; at boot
 * it never says "no task ran", nor does the log line of a network store down at boot. A
 * read-only folder (chmod 0555) when permissions apply; root ignores them, so a path under a
 * regular file is used too, where the open must fail (and sqlite-open-readonly.slow.test.ts
 * opens the 0555 folder as nobody).
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import { StoreOpenError, StoreUnavailableError } from '../../core/errors.js'
import fastifyScheduler from '../../plugin.js'
import { memoryStore } from '../../plugin/stores/memory.js'
import { sqliteStore } from '../../plugin/stores/sqlite/index.js'

const root = mkdtempSync(join(tmpdir(), 'sqlite-open-'))
t.teardown(() => {
  chmodSync(join(root, 'read-only'), 0o755)
  rmSync(root, { recursive: true, force: true })
})
const readOnly = join(root, 'read-only')
writeFileSync(join(root, 'a-file'), 'not a folder')
const underAFile = join(root, 'a-file', 'scheduler.sqlite')
mkdirSync(readOnly)
chmodSync(readOnly, 0o555)

/** Whether this process is refused writing in a 0555 folder (root is not). */
function permissionsApply (): boolean {
  try {
    writeFileSync(join(readOnly, 'probe'), '')
    rmSync(join(readOnly, 'probe'))
    return false
  } catch {
    return true
  }
}

/** The message names the absolute path, a reason and both ways out. */
function assertExplains (t: Test, err: unknown, path: string): void {
  t.ok(err instanceof StoreOpenError, 'coded FST_SCHEDULER_STORE_OPEN')
  t.notOk(err instanceof StoreUnavailableError)
  const message = (err as Error).message
  t.ok(message.startsWith(`cannot open the SQLite store at ${path}: `), `says what failed, first: ${message}`)
  t.match(message, /sqliteStore\(\{ path \}\)/, 'names the option')
  t.match(message, /redisStore\(\) or postgresStore\(\)/, 'names the network stores')
  t.notMatch(message, /no task ran/)
  t.ok((err as Error).cause, 'keeps the driver error as the cause')
}

t.test('a path under a regular file: init fails naming path, reason and way out', async t => {
  const store = sqliteStore({ path: underAFile })
  const err = await store.init().then(() => undefined, (e: unknown) => e)
  assertExplains(t, err, underAFile)
  t.ok((err as Error).message.includes(`${join(root, 'a-file')} is a file, not a folder`), 'the reason')
  const deeper = join(root, 'a-file', 'sub', 'scheduler.sqlite')
  const deeperErr = await sqliteStore({ path: deeper }).init().then(() => undefined, (e: unknown) => e)
  assertExplains(t, deeperErr, deeper)
  t.ok((deeperErr as Error).message.includes(`${join(root, 'a-file')} is a file, not a folder`), 'found further up')
  t.match((err as Error).message, /A read-only file system \(serverless hosts, read-only containers\) or missing permissions/, 'what it usually means')
  await store.close()
})

t.test('a read-only folder (chmod 0555)', { skip: permissionsApply() ? false : 'this process (root) ignores permissions: sqlite-open-readonly.slow.test.ts opens it as nobody' }, async t => {
  const path = join(readOnly, 'scheduler.sqlite')
  const store = sqliteStore({ path })
  const err = await store.init().then(() => undefined, (e: unknown) => e)
  assertExplains(t, err, path)
  t.ok((err as Error).message.includes(`the folder ${readOnly} is not writable`), (err as Error).message)
  await store.close()
})

t.test('a relative path is named absolute', async t => {
  const store = sqliteStore({ path: relative(process.cwd(), underAFile) })
  const err = await store.init().then(() => undefined, (e: unknown) => e)
  assertExplains(t, err, underAFile)
  await store.close()
})

t.test('the boot fails with the open error, never "no task ran"', async t => {
  const app = Fastify({ logger: false })
  await app.register(fastifyScheduler, { dir: false, routes: false, store: sqliteStore({ path: underAFile }) })
  const err = await app.ready().then(() => undefined, (e: unknown) => e)
  assertExplains(t, err, underAFile)
  await app.close().catch(() => {})
})

t.test('a network store down at boot: the app boots, and the log line never says "no task ran"', async t => {
  const lines: string[] = []
  const down = { ...memoryStore(), kind: 'redis', durable: true, async init () { throw new Error('connect ECONNREFUSED 127.0.0.1:6390') } }
  const app = Fastify({ logger: { level: 'error', stream: { write: (line: string) => { lines.push(line) } } } })
  await app.register(fastifyScheduler, { dir: false, routes: false, store: down })
  await app.ready()
  t.teardown(() => app.close())
  const logged = lines.join('')
  t.match(logged, /the store is unreachable at boot; ticks will answer 503 until it is back/)
  t.match(logged, /connect ECONNREFUSED 127\.0\.0\.1:6390/, 'the reason')
  t.notMatch(logged, /no task ran/)
})
