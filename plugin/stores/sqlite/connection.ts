/**
 * The SQLite store's connection: opening the file, noticing that its path now names another
 * file (or none), and waiting for the write lock without ever blocking the event loop.
 * The fault model is in `docs/ARCHITECTURE.md#the-fault-model`.
 *
 * Group commit: the writes issued in one event-loop turn (a tick starts or finishes all its
 * due tasks at once) run together, in call order, in ONE `BEGIN IMMEDIATE` transaction at
 * the next check phase: a tick of 100 starts pays for one commit and one lock instead of
 * 100. Each call stays atomic (the transaction commits all or none). If a call fails for any
 * reason but the lock, the batch runs again at once with each call in a savepoint of its
 * own, so that only the failing call fails.
 *
 * One lock waiter per store: better-sqlite3 is synchronous and SQLite's busy handler sleeps
 * in the calling thread, so the busy timeout is 0 and a batch that meets SQLITE_BUSY goes
 * back to the head of the queue behind ONE timer (jittered backoff, 1 ms doubling to
 * 100 ms). Writes issued meanwhile join the queue, not a timer of their own, and commit with
 * it when the lock comes free; each still fails alone once its own `busyTimeout` has passed.
 * Retrying is safe because a batch is one transaction, which either committed or rolled back.
 *
 * A replaced file: before each batch (and each read) the path is `stat`ed; when it no longer
 * names the file that was opened (device + inode) — deleted, or renamed over by another
 * copy — the connection closes and opens the path again (creating the file if missing).
 * The store then answers from the new file, and the scheduler sees that as state loss:
 * missing task rows (`startRun` answers `stale`) or a smaller fencing counter (`rebase`,
 * `docs/ARCHITECTURE.md#a-store-that-goes-back-in-time`).
 * The path is `stat`ed again after each commit: a batch that committed into a file that was
 * replaced meanwhile fails as a whole (what it wrote nobody will read), so no claim made in
 * the old file counts. SQLite itself never deletes the new file's WAL when the old
 * connection closes (it skips the checkpoint of a moved database).
 */
import { accessSync, constants, mkdirSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import Database from 'better-sqlite3'
import { StoreOpenError, storeUnavailable } from '../../../core/errors.js'

const FIRST_BACKOFF_MS = 1
const MAX_BACKOFF_MS = 100

/**
 * What the connection measured, for tests and diagnostics: the store's own synchronous
 * time (never wall-clock drift of the event loop) and its lock-wait timers.
 */
export interface ConnectionStats {
  /** The longest synchronous section (a batch, a read, an open) in ms of wall time (a starved CPU inflates it). */
  longestSyncMs: number
  /** The most CPU time one synchronous section took, in ms: its own work, whatever the machine's load. */
  longestSyncCpuMs: number
  /** SQLite's busy timeout on the connection, in ms: how long it may sleep in the thread on a lock (0: never). */
  syncBusyTimeoutMs: number
  /** How many synchronous sections ran. */
  syncSections: number
  /** Lock-wait timers armed right now (the write queue has at most one; each waiting read its own). */
  activeTimers: number
  /** The most lock-wait timers ever armed at once. */
  peakTimers: number
  /** Batches or reads that met another process's write lock. */
  lockMisses: number
  /** How often the path named another file (or none) and was opened again. */
  reopened: number
  /** The most calls committed in one transaction (group commit). */
  largestBatch: number
}

/** The key under which `sqliteStore()` exposes its `ConnectionStats` (not part of the public API). */
export const CONNECTION_STATS = Symbol('fastify-scheduler.sqlite.stats')

/**
 * What the store plugs in: its statements (prepared for each opened file), the schema
 * migration run at open, and a per-transaction state (the fencing counter) created at the
 * start of each batch and saved before its commit.
 */
export interface ConnectionSetup<S, B> {
  migrate: (db: Database.Database) => void
  prepare: (db: Database.Database) => S
  newBatch: (sql: S) => B
  saveBatch: (batch: B) => void
}

interface QueuedWrite<S, B> {
  work: (sql: S, batch: B) => unknown
  resolve: (value: unknown) => void
  reject: (err: unknown) => void
  /** performance.now() after which the call stops waiting for the lock. */
  deadline: number
}

interface Opened<S> {
  db: Database.Database
  sql: S
  /** Device and inode of the database file, its WAL and its shared memory at open; undefined for `:memory:`. */
  identity?: FileIdentity[]
}

interface FileIdentity { path: string, dev: number, ino: number }

/**
 * The files a connection in WAL mode uses: the database, its `-wal` and its `-shm`. A
 * connection whose `-wal` or `-shm` was deleted under it no longer shares commits or locks
 * with a process that opens the path anew, so each of the three is checked.
 */
function filesOf (file: string): string[] {
  return [file, `${file}-wal`, `${file}-shm`]
}

/** SQLITE_BUSY, SQLITE_LOCKED and their extended codes: another connection holds a lock. */
function isLockError (err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code)
}

/** Error codes that mean the path cannot be created or written: a retry will not help. */
const NOT_WRITABLE = /^(SQLITE_CANTOPEN|SQLITE_READONLY|SQLITE_PERM|SQLITE_AUTH|EACCES|EPERM|EROFS|ENOTDIR|EISDIR|EEXIST)/

/** What is wrong with the path, if anything: it is a folder, or its nearest existing folder is a file or not writable. */
function pathProblem (file: string): string | undefined {
  try {
    if (statSync(file, { throwIfNoEntry: false })?.isDirectory() === true) return 'it is a folder; name a file (e.g. a .sqlite file in it)'
  } catch {} // ENOTDIR and the like: the folders below tell
  try {
    for (let dir = dirname(file); ; dir = dirname(dir)) {
      let stat
      try {
        stat = statSync(dir, { throwIfNoEntry: false })
      } catch {} // ENOTDIR: a file further up, found on the way
      if (stat === undefined) {
        if (dirname(dir) === dir) return undefined
        continue
      }
      if (!stat.isDirectory()) return `${dir} is a file, not a folder`
      try {
        accessSync(dir, constants.W_OK)
      } catch (err) {
        return `the folder ${dir} is not writable (${(err as { code?: string }).code ?? 'EACCES'})`
      }
      return undefined
    }
  } catch {
    return undefined
  }
}

/**
 * Why the file could not be opened, as a `StoreOpenError` naming the absolute path, the reason
 * and the way out; a lock held past `busyTimeout` stays as it is (it passes, a retry helps).
 */
function openFailed (file: string, err: unknown): unknown {
  if (isLockError(err) || isLockError((err as { cause?: unknown } | null)?.cause)) return err
  const code = (err as { code?: unknown } | null)?.code
  const problem = file === ':memory:' ? undefined : pathProblem(file)
  const notWritable = typeof code === 'string' && NOT_WRITABLE.test(code)
  // Other failures (a schema from a newer version, a corrupt file) say what to do themselves.
  if (problem === undefined && !notWritable) return err
  const message = err instanceof Error ? err.message : String(err)
  const driver = typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message
  const hint = problem?.startsWith('it is a folder') === true
    ? ''
    : '. A read-only file system (serverless hosts, read-only containers) or missing permissions'
  const failure = new StoreOpenError(`cannot open the SQLite store at ${file}: ${problem === undefined ? driver : `${problem} (${driver})`}${hint}. ` +
    'Pass sqliteStore({ path }) with a writable file (on serverless hosts only /tmp is writable, and it lasts as long as the instance), ' +
    'or use redisStore() or postgresStore(), which serverless functions and replicas share')
  failure.cause = err
  return failure
}

/** Jittered wait before the next try: between half and all of `backoff`, never past `left`. */
function jittered (backoff: number, left: number): number {
  return Math.max(0, Math.min(left, backoff / 2 + Math.random() * backoff / 2))
}

/**
 * One store's connection to its file: `open`, `read`, `write` (group commit, one lock
 * waiter), `close`. `S` is the store's prepared statements, `B` its per-transaction state.
 */
export class SqliteConnection<S, B> {
  readonly stats: ConnectionStats = { longestSyncMs: 0, longestSyncCpuMs: 0, syncBusyTimeoutMs: 0, syncSections: 0, activeTimers: 0, peakTimers: 0, lockMisses: 0, reopened: 0, largestBatch: 0 }
  readonly #configuredPath: string
  readonly #busyTimeout: number
  readonly #setup: ConnectionSetup<S, B>
  #file: string
  #opened: Opened<S> | undefined
  /** True between `open()` and `close()`: a lost or replaced file is opened again. */
  #wanted = false
  #opening: Promise<void> | undefined
  #queue: Array<QueuedWrite<S, B>> = []
  /** A flush is scheduled, running or waiting on the lock timer. */
  #flushing = false
  #backoff = FIRST_BACKOFF_MS
  #drained: Array<() => void> = []

  constructor (configuredPath: string, busyTimeout: number, setup: ConnectionSetup<S, B>) {
    this.#configuredPath = configuredPath
    this.#file = configuredPath
    this.#busyTimeout = busyTimeout
    this.#setup = setup
  }

  /** Open the file (idempotent; concurrent calls share one open). */
  async open (): Promise<void> {
    this.#wanted = true
    if (this.#opened !== undefined) return
    await this.#openShared()
  }

  /** Commit what was issued, then close the file. Idempotent. */
  async close (): Promise<void> {
    this.#wanted = false
    if (this.#flushing || this.#queue.length > 0) await new Promise<void>((resolve) => this.#drained.push(resolve))
    await this.#opening?.catch(() => {})
    const opened = this.#opened
    this.#opened = undefined
    opened?.db.close()
  }

  /**
   * Run a read against the file. Reads do not need the write lock (WAL); the rare SQLITE_BUSY
   * (a WAL recovery) is retried from a timer until `busyTimeout`. Failures are coded.
   */
  async read<T> (fn: (db: Database.Database, sql: S) => T): Promise<T> {
    try {
      return await this.#whileLocked(async () => {
        const { db, sql } = await this.#current()
        return this.#timed(() => fn(db, sql))
      })
    } catch (err) {
      throw storeUnavailable(err)
    }
  }

  /**
   * Queue a write for the next group commit; its result (or coded error) settles the
   * promise. `work` must be synchronous and touch the database only through `sql`.
   */
  write<T> (work: (sql: S, batch: B) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (value: unknown) => void, reject, deadline: performance.now() + this.#busyTimeout })
      if (!this.#flushing) {
        this.#flushing = true
        setImmediate(() => { void this.#flush() })
      }
    })
  }

  /** Time a synchronous section of the store (what the event loop is blocked for). */
  #timed<T> (fn: () => T): T {
    const began = performance.now()
    const cpu = process.cpuUsage()
    try {
      return fn()
    } finally {
      const used = process.cpuUsage(cpu)
      const ms = performance.now() - began
      this.stats.syncSections++
      this.stats.longestSyncMs = Math.max(this.stats.longestSyncMs, ms)
      this.stats.longestSyncCpuMs = Math.max(this.stats.longestSyncCpuMs, (used.user + used.system) / 1000)
    }
  }

  /** A timer the store waits on for the lock, counted in the stats. */
  async #wait (ms: number): Promise<void> {
    this.stats.activeTimers++
    this.stats.peakTimers = Math.max(this.stats.peakTimers, this.stats.activeTimers)
    try {
      await sleep(ms)
    } finally {
      this.stats.activeTimers--
    }
  }

  #lockedError (cause: unknown): Error {
    return new Error(`the database file ${this.#file} is locked by another process (still locked after ${this.#busyTimeout} ms)`, { cause })
  }

  /** True when a path no longer names the file that is open (deleted, or another file moved there). */
  #replaced (opened: Opened<S>): boolean {
    if (opened.identity === undefined) return false
    for (const { path, dev, ino } of opened.identity) {
      let now
      try {
        now = statSync(path, { throwIfNoEntry: false })
      } catch {
        continue // cannot tell (e.g. a directory no longer searchable): the open file is all there is
      }
      if (now === undefined || now.dev !== dev || now.ino !== ino) return true
    }
    return false
  }

  /** The open file, reopened first when its path names another file now. */
  async #current (): Promise<Opened<S>> {
    const opened = this.#opened
    if (opened !== undefined && !this.#replaced(opened)) return opened
    if (!this.#wanted) throw new Error('the SQLite store is not open (init() not called, or closed)')
    if (opened !== undefined && this.#opened === opened) {
      // Closing the old connection is safe: SQLite skips the checkpoint (and the deletion
      // of the WAL, which is by name) for a database file that has moved.
      this.#opened = undefined
      opened.db.close()
      this.stats.reopened++
    }
    await this.#openShared()
    return this.#opened!
  }

  #openShared (): Promise<void> {
    this.#opening ??= this.#openFile().finally(() => { this.#opening = undefined })
    return this.#opening
  }

  /** Open the path, configure it for several processes, migrate the schema (under the write lock). */
  async #openFile (): Promise<void> {
    const file = this.#configuredPath === ':memory:' ? ':memory:' : resolve(process.cwd(), this.#configuredPath)
    this.#file = file
    let db: Database.Database
    try {
      db = this.#timed(() => {
        if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true })
        const opening = new Database(file)
        // Never sleep in the thread on a lock: waiting is the timers' job (see above).
        opening.pragma('busy_timeout = 0')
        this.stats.syncBusyTimeoutMs = opening.pragma('busy_timeout', { simple: true }) as number
        return opening
      })
    } catch (err) {
      throw openFailed(file, err)
    }
    try {
      await this.#whileLocked(() => this.#timed(() => db.pragma('journal_mode = WAL')))
      db.pragma('synchronous = NORMAL')
      await this.#whileLocked(() => this.#timed(() => this.#setup.migrate(db)))
      const sql = this.#timed(() => this.#setup.prepare(db))
      if (file === ':memory:') {
        this.#opened = { db, sql }
      } else {
        // In WAL mode the connection has all three open by now.
        const identity = filesOf(file).map((path) => ({ path, ...statSync(path) })).map(({ path, dev, ino }) => ({ path, dev, ino }))
        this.#opened = { db, sql, identity }
      }
    } catch (err) {
      db.close()
      throw openFailed(file, err)
    }
  }

  /**
   * Run `fn` until it does not meet another process's lock, waiting on a timer of its own,
   * until `busyTimeout` (opening, and reads: writes wait together in `#flush`).
   */
  async #whileLocked<T> (fn: () => T | Promise<T>): Promise<T> {
    const deadline = performance.now() + this.#busyTimeout
    let backoff = FIRST_BACKOFF_MS
    for (;;) {
      try {
        return await fn()
      } catch (err) {
        if (!isLockError(err)) throw err
        this.stats.lockMisses++
        const left = deadline - performance.now()
        if (left <= 0) throw this.#lockedError(err)
        await this.#wait(jittered(backoff, left))
        backoff = Math.min(MAX_BACKOFF_MS, backoff * 2)
      }
    }
  }

  /**
   * Commit every queued write together; while another process holds the lock, wait behind
   * one timer with everything queued meanwhile, failing each call whose `busyTimeout` passed.
   */
  async #flush (): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const opened = await this.#current()
        const batch = this.#queue
        this.#queue = []
        if (this.#timed(() => this.#commit(opened, batch))) {
          this.#backoff = FIRST_BACKOFF_MS
          continue // writes queued while the file was reopened
        }
        // Locked: back to the head of the queue, in order, and one timer for all.
        this.stats.lockMisses++
        this.#queue = batch.concat(this.#queue)
        const earliest = this.#queue.reduce((min, item) => Math.min(min, item.deadline), Infinity)
        await this.#wait(jittered(this.#backoff, earliest - performance.now()))
        this.#backoff = Math.min(MAX_BACKOFF_MS, this.#backoff * 2)
        this.#expire()
      }
    } catch (err) {
      // The file could not be (re)opened: every queued call fails now, none waits in vain.
      this.#failAll(storeUnavailable(err))
    } finally {
      this.#flushing = false
      for (const resolve of this.#drained.splice(0)) resolve()
    }
  }

  /** Fail the calls that waited for the lock for their whole `busyTimeout`. */
  #expire (): void {
    const now = performance.now()
    if (!this.#queue.some((item) => item.deadline <= now)) return
    const expired = this.#queue.filter((item) => item.deadline <= now)
    this.#queue = this.#queue.filter((item) => item.deadline > now)
    const err = storeUnavailable(this.#lockedError(undefined))
    for (const item of expired) item.reject(err)
  }

  #failAll (err: unknown): void {
    const failed = this.#queue
    this.#queue = []
    for (const item of failed) item.reject(err)
  }

  /**
   * One try at committing `batch` in one transaction. False when another process holds the
   * lock (nothing was done); true when every call is settled.
   */
  #commit (opened: Opened<S>, batch: ReadonlyArray<QueuedWrite<S, B>>): boolean {
    const { db, sql } = opened
    const { newBatch, saveBatch } = this.#setup
    let settled: Array<{ ok: true, value: unknown } | { ok: false, error: unknown }>
    try {
      settled = db.transaction(() => {
        const state = newBatch(sql)
        const values = batch.map((item) => ({ ok: true as const, value: item.work(sql, state) }))
        saveBatch(state)
        return values
      }).immediate()
    } catch (err) {
      if (isLockError(err)) return false
      if (batch.length === 1) {
        batch[0]!.reject(storeUnavailable(err))
        return true
      }
      // One of them failed and everything rolled back: again, each call in a savepoint of its
      // own (the common path pays for none), so that only the failing call fails.
      try {
        settled = db.transaction(() => {
          const state = newBatch(sql)
          const results = batch.map((item) => {
            try {
              return { ok: true as const, value: db.transaction(() => item.work(sql, state))() }
            } catch (error) {
              return { ok: false as const, error }
            }
          })
          saveBatch(state)
          return results
        }).immediate()
      } catch (again) {
        if (isLockError(again)) return false
        for (const item of batch) item.reject(storeUnavailable(again))
        return true
      }
    }
    if (this.#replaced(opened)) {
      // Committed into a file that is no longer at the path: nobody will read it, so none of it counts.
      const err = storeUnavailable(new Error(`the database file ${this.#file} was replaced or deleted while this process wrote to it; the write is lost and will be retried`))
      for (const item of batch) item.reject(err)
      return true
    }
    this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length)
    settled.forEach((result, i) => {
      if (result.ok) batch[i]!.resolve(result.value)
      else batch[i]!.reject(storeUnavailable(result.error))
    })
    return true
  }
}
