/**
 * The demo (`npm run demo`): the example app on PORT (default 3000) with the default SQLite
 * store under example-app/data/, a token, the dashboard's address, and the lines to tick it:
 * a curl command to try now, and the crontab line.
 *
 * The token is SCHEDULE_TOKEN when set; else the one saved in `<dataDir>/.env` (git-ignored,
 * mode 0600) by an earlier start; else a random one, saved there. So a second terminal finds
 * it: the `export` line printed to paste, the file itself (`set -a; . example-app/data/.env`),
 * or the CLI's `--dotenv example-app/data/.env`; and a restart keeps it.
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { parseEnv } from 'node:util'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import { curlCommand, curlCronLine, headerFileCommand, triggerUrl } from '../cli/crontab.js'
import app from './app.js'
import { resolveConfig } from './config.js'

const HOUR = 60 * 60 * 1000

function portFromEnv (): number {
  const port = Number(process.env.PORT ?? 3000)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`PORT=${process.env.PORT ?? ''}: not a port number (0-65535)`)
  }
  return port
}

const port = portFromEnv()
const host = process.env.HOST ?? '127.0.0.1'

/** Where the demo keeps its token: `<dataDir>/.env`, the data folder being git-ignored. */
const envFile = join(resolveConfig().dataDir, '.env')
const shownEnvFile = relative(process.cwd(), envFile) || envFile

/** The token's origin: the environment, the .env file of an earlier start, or generated now (and saved). */
function demoToken (): 'env' | 'file' | 'generated' {
  if (process.env.SCHEDULE_TOKEN !== undefined && process.env.SCHEDULE_TOKEN !== '') return 'env'
  const saved = existsSync(envFile) ? parseEnv(readFileSync(envFile, 'utf8')).SCHEDULE_TOKEN : undefined
  if (saved !== undefined && saved.length >= 16) {
    process.env.SCHEDULE_TOKEN = saved
    return 'file'
  }
  process.env.SCHEDULE_TOKEN = randomBytes(32).toString('hex')
  mkdirSync(join(envFile, '..'), { recursive: true })
  writeFileSync(envFile, `# Written by the demo (example-app/server.ts): the token of the /_schedule routes.\nSCHEDULE_TOKEN=${process.env.SCHEDULE_TOKEN}\n`, { mode: 0o600 })
  chmodSync(envFile, 0o600)
  return 'generated'
}

const tokenFrom = demoToken()
const token = (process.env.SCHEDULE_TOKEN ?? '').split(',')[0].trim()
const tokenLine = {
  env: '  token:  from SCHEDULE_TOKEN:',
  file: `  token:  from ${shownEnvFile} (saved by an earlier start):`,
  generated: `  token:  generated and saved to ${shownEnvFile} (git-ignored; set SCHEDULE_TOKEN to choose one):`
}[tokenFrom]

// The demo loads its TypeScript through tsx as it boots: on a slow or busy machine the app plugin
// can take longer than Fastify's default pluginTimeout (10 s), and the demo would exit; it waits a minute.
const server = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'info' }, pluginTimeout: 60_000 })
// As fastify-cli does: fastify-plugin puts the app's decorators (db, scheduler) on this instance.
await server.register(fp(app))
await server.ready()

// A first start gets a few rows, so every task has something to do.
const empty = (server.db.prepare('SELECT COUNT(*) AS n FROM subscribers').get() as { n: number }).n === 0
if (empty) {
  const now = Date.now()
  const addSubscriber = server.db.prepare('INSERT INTO subscribers (email, created_at) VALUES (?, ?)')
  for (const email of ['ada@example.com', 'grace+late@example.com', 'linus@example.com']) addSubscriber.run(email, now - HOUR)
  const addSession = server.db.prepare('INSERT OR IGNORE INTO sessions (id, user, expires_at) VALUES (?, ?, ?)')
  addSession.run('demo-expired', 'ada@example.com', now - HOUR)
  addSession.run('demo-live', 'linus@example.com', now + 24 * HOUR)
}

await server.listen({ port, host })

const fromFile = tokenFrom === 'env'
  ? ''
  : `or read it from the file: set -a; . ${shownEnvFile}; set +a
and the CLI reads the file itself: npm run -s cli -- list --app example-app/app.ts --dotenv ${shownEnvFile}
`
const origin = server.listeningOrigin
const url = triggerUrl(origin)
const { config } = server
process.stdout.write(`
fastify-scheduler demo: ${origin}
  tasks:  ${server.scheduler.taskNames.join(', ')}
  store:  ${server.scheduler.store.kind} (${relative(process.cwd(), config.schedulerDbPath)})
  outbox: ${relative(process.cwd(), config.outboxDir)}/ (every mail the tasks send lands here)
${tokenLine} ${token}

In another shell, set the token first (paste this line):
  export SCHEDULE_TOKEN=${token}
${fromFile}
Dashboard (paste the token when it asks):
  ${url.replace(/\/run$/, '/ui')}

Tick now (runs whatever is due; --force and ?task= are in the README):
  ${curlCommand(url, token)}

See the tasks, their next and last runs:
  ${curlCommand(url.replace(/\/run$/, ''), token, 'GET')}

Tick every minute from cron: with SCHEDULE_TOKEN set (above), write it to a file only you can read, once,
  ${headerFileCommand()}
then add this line with \`crontab -e\`:
  ${curlCronLine(url)}

`)

const stop = async (): Promise<void> => {
  await server.close()
  process.exit(0)
}
process.once('SIGINT', () => { void stop() })
process.once('SIGTERM', () => { void stop() })
