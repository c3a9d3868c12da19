/**
 * The example app's settings: plugin options first, then the environment, then defaults
 * under `example-app/data/` and `example-app/outbox/` (both git-ignored). Resolved once in
 * `app.ts` and decorated as `app.config`, so plugins and tasks read the same values.
 */
import { join, resolve } from 'node:path'
import type { Store } from '../index.js'

export interface ExampleAppOptions {
  /** Folder of the SQLite files. Env `EXAMPLE_DATA_DIR`; default `example-app/data`. */
  dataDir?: string | undefined
  /** Where `app.mail` writes each message as an `.eml` file. Env `EXAMPLE_OUTBOX_DIR`; default `example-app/outbox`. */
  outboxDir?: string | undefined
  /** The app's database (subscribers, sessions). Env `EXAMPLE_DB_PATH`; default `<dataDir>/app.sqlite`. */
  dbPath?: string | undefined
  /** The scheduler's store. Default: `sqliteStore()` at `<dataDir>/scheduler.sqlite`. */
  store?: Store | undefined
  /** The billing service. Env `BILLING_API_URL`; default this app's own `/billing-api` on its listening address. */
  billingUrl?: string
  /** Who receives the daily digest. Env `DIGEST_TO`; default `team@example.com`. */
  digestTo?: string
  /** Who is mailed when a task fails or times out. Env `ADMIN_EMAIL`; default `admin@example.com`. */
  adminEmail?: string
  /** Time zone of every schedule. Env `SCHEDULE_TIMEZONE`; default the process's zone. */
  timezone?: string | undefined
  /** Token for the /_schedule routes; default the plugin's (`SCHEDULE_TOKEN` from the environment). */
  scheduleToken?: string | undefined
}

export interface ExampleConfig {
  dataDir: string
  outboxDir: string
  dbPath: string
  schedulerDbPath: string
  store: Store | undefined
  billingUrl: string | undefined
  digestTo: string
  adminEmail: string
  timezone: string | undefined
  scheduleToken: string | undefined
}

const HERE = import.meta.dirname

export function resolveConfig (options: ExampleAppOptions = {}, env: NodeJS.ProcessEnv = process.env): ExampleConfig {
  const dataDir = resolve(options.dataDir ?? env.EXAMPLE_DATA_DIR ?? join(HERE, 'data'))
  return {
    dataDir,
    outboxDir: resolve(options.outboxDir ?? env.EXAMPLE_OUTBOX_DIR ?? join(HERE, 'outbox')),
    dbPath: resolve(options.dbPath ?? env.EXAMPLE_DB_PATH ?? join(dataDir, 'app.sqlite')),
    schedulerDbPath: join(dataDir, 'scheduler.sqlite'),
    store: options.store,
    billingUrl: options.billingUrl ?? env.BILLING_API_URL,
    digestTo: options.digestTo ?? env.DIGEST_TO ?? 'team@example.com',
    adminEmail: options.adminEmail ?? env.ADMIN_EMAIL ?? 'admin@example.com',
    timezone: options.timezone ?? env.SCHEDULE_TIMEZONE,
    scheduleToken: options.scheduleToken
  }
}
