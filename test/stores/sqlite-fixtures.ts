/**
 * What the SQLite store tests share: real files in a temp directory, another process
 * holding a file's write lock, a child's stdout read line by line, and the store's own
 * measurements (its synchronous sections and lock timers, from `connection.ts`).
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable, Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { CONNECTION_STATS, type ConnectionStats } from '../../plugin/stores/sqlite/connection.js'
import type { Store } from '../../plugin/stores/store.js'
import { untrackedEnv } from '../helpers/child-env.js'

/** A temp directory removed when `t` ends, and a new file path in it per call. */
export function tempFiles (t: Test, prefix = 'fastify-scheduler-sqlite-'): { dir: string, newFile: () => string } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return { dir, newFile: () => join(dir, `${randomUUID()}.sqlite`) }
}

/**
 * What a SQLite store measured of itself: the longest synchronous section it ran (set
 * `longestSyncMs` and `longestSyncCpuMs` to 0 to start a window) and its lock-wait timers.
 */
export function statsOf (store: Store): ConnectionStats {
  const stats = (store as unknown as Record<symbol, ConnectionStats | undefined>)[CONNECTION_STATS]
  if (stats === undefined) throw new Error('not a SQLite store')
  return stats
}

/** A child's stdout as lines, and a wait for a given line (rejecting if the child exits first). */
export function watchLines (child: ChildProcessByStdio<Writable, Readable, null>): { lines: string[], waitFor: (line: string) => Promise<void>, exited: Promise<number | null> } {
  const lines: string[] = []
  const waiters: Array<{ line: string, resolve: () => void }> = []
  let buffered = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk
    const parts = buffered.split('\n')
    buffered = parts.pop()!
    for (const part of parts) {
      lines.push(part)
      for (const waiter of waiters) if (waiter.line === part) waiter.resolve()
    }
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const waitFor = (line: string): Promise<void> => lines.includes(line)
    ? Promise.resolve()
    : new Promise<void>((resolve, reject) => {
      waiters.push({ line, resolve })
      void exited.then((code) => reject(new Error(`child exited with ${code} before printing "${line}": ${lines.join('\n')}`)))
    })
  return { lines, waitFor, exited }
}

/**
 * Another process holding the write lock: it opens the file with better-sqlite3, runs
 * BEGIN IMMEDIATE, writes a row, prints "locked", holds the lock `holdMs`, commits and
 * prints "committed".
 */
const LOCK_HOLDER = `
const Database = require('better-sqlite3')
const db = new Database(process.env.DB_PATH)
db.pragma('busy_timeout = 5000')
db.exec('BEGIN IMMEDIATE')
db.prepare("INSERT INTO fastify_scheduler_meta (key, value) VALUES ('lock-holder', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(String(process.pid))
process.stdout.write('locked\\n')
setTimeout(() => {
  db.exec('COMMIT')
  db.close()
  process.stdout.write('committed\\n')
}, Number(process.env.HOLD_MS))
`

export async function holdWriteLock (t: Test, path: string, holdMs: number): Promise<{ committed: Promise<void> }> {
  const child = spawn(process.execPath, ['-e', LOCK_HOLDER], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    env: untrackedEnv({ DB_PATH: path, HOLD_MS: String(holdMs) }),
    stdio: ['pipe', 'pipe', 'inherit']
  })
  const { waitFor, exited } = watchLines(child)
  t.teardown(async () => {
    if (child.exitCode === null) child.kill('SIGKILL')
    await exited
  })
  await waitFor('locked')
  return { committed: waitFor('committed') }
}

/** Start a measuring window: the longest sections so far are forgotten. */
export function resetWindow (store: Store): void {
  const stats = statsOf(store)
  stats.longestSyncMs = 0
  stats.longestSyncCpuMs = 0
}

/**
 * The store never blocks the event loop on the lock: SQLite may not sleep in the thread
 * (busy timeout 0), and no synchronous section of the store took 100 ms of CPU. CPU time,
 * not wall time: two busy loops beside the test stretch a section's wall time, never its
 * own work (the wall time is in the message).
 */
export function assertNeverBlocked (t: Test, store: Store): void {
  const stats = statsOf(store)
  t.equal(stats.syncBusyTimeoutMs, 0, 'SQLite never sleeps in the thread waiting for a lock (busy_timeout 0)')
  t.ok(stats.longestSyncCpuMs < 100,
    `the store's longest synchronous section took ${stats.longestSyncCpuMs.toFixed(1)} ms of CPU (${stats.longestSyncMs.toFixed(1)} ms of wall time)`)
}
