/**
 * The demo (`npm run demo`): the example app on PORT (default 3000) with the default SQLite
 * store under example-app/data/, a token (SCHEDULE_TOKEN, or a random one printed here),
 * the dashboard's address, and the lines to tick it: a curl command to try now, and the
 * crontab line.
 */
import { randomBytes } from 'node:crypto'
import { relative } from 'node:path'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import { curlCommand, curlCronLine, headerFileCommand, triggerUrl } from '../cli/crontab.js'
import app from './app.js'

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
const generated = process.env.SCHEDULE_TOKEN === undefined || process.env.SCHEDULE_TOKEN === ''
if (generated) process.env.SCHEDULE_TOKEN = randomBytes(32).toString('hex')
const token = (process.env.SCHEDULE_TOKEN ?? '').split(',')[0].trim()

const server = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'info' } })
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

const origin = server.listeningOrigin
const url = triggerUrl(origin)
const { config } = server
process.stdout.write(`
fastify-scheduler demo: ${origin}
  tasks:  ${server.scheduler.taskNames.join(', ')}
  store:  ${server.scheduler.store.kind} (${relative(process.cwd(), config.schedulerDbPath)})
  outbox: ${relative(process.cwd(), config.outboxDir)}/ (every mail the tasks send lands here)
${generated ? '  token:  generated for this run (set SCHEDULE_TOKEN to keep one):' : '  token:  from SCHEDULE_TOKEN:'} ${token}

Dashboard (paste the token when it asks):
  ${url.replace(/\/run$/, '/ui')}

Tick now (runs whatever is due; --force and ?task= are in the README):
  ${curlCommand(url, token)}

See the tasks, their next and last runs:
  ${curlCommand(url.replace(/\/run$/, ''), token, 'GET')}

Tick every minute from cron: write the token to a file only you can read, once,
  export SCHEDULE_TOKEN=${token}
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
