/**
 * `app.db`: the app's own SQLite database (better-sqlite3), with the tables the tasks use.
 * Closed when the app closes.
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    /** The app's database: `subscribers` and `sessions`. */
    db: Database.Database
  }
}

/** A row of `subscribers`. Times are ms since the epoch. */
export interface Subscriber {
  id: number
  email: string
  created_at: number
  /** What the billing service said at the last sync, or null before the first. */
  billed_status: string | null
}

/** A row of `sessions`. */
export interface Session {
  id: string
  user: string
  expires_at: number
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS subscribers (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    billed_status TEXT
  );
  CREATE INDEX IF NOT EXISTS subscribers_created_at ON subscribers (created_at);
  CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS sessions_expires_at ON sessions (expires_at);
`

export default fp(async (app) => {
  const path = app.config.dbPath
  mkdirSync(dirname(path), { recursive: true })
  let db: Database.Database
  try {
    db = new Database(path)
  } catch (err) {
    throw new Error(`example-app db: cannot open ${path}: ${(err as Error).message}`, { cause: err })
  }
  db.pragma('journal_mode = WAL')
  db.exec(SCHEMA)
  app.decorate('db', db)
  app.addHook('onClose', async () => { db.close() })
}, { name: 'db', fastify: '5.x' })
