/**
 * Requests/s of `POST /_schedule/run` (1,000 tasks, none due, SQLite store in a temp file,
 * bearer auth) against a bare Fastify POST route answering a body of the same shape. Each
 * server listens on 127.0.0.1 in a process of its own; autocannon drives them from this
 * one, alternating rounds. A first request (and a warm-up round) does the store round trip
 * of the first tick, so measured ticks have nothing due.
 *
 *   npx tsx bench/http.ts [--json]
 */
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { alternate, figure, goal, progress, runAlone, tempDir, TSX_EXEC_ARGV, type Figures } from './util.js'

const ROUNDS = 4
const ROUND_SECONDS = 3
const CONNECTIONS = 10
const COMMAND = 'npx tsx bench/http.ts'

export const HTTP_GOALS = { runEndpointVsBare: goal('>=', 0.8, '× (ours req/s ÷ bare req/s)', COMMAND) }
const serverScript = fileURLToPath(new URL('./fixtures/http-server.ts', import.meta.url))

interface Server { child: ChildProcess, url: string }

async function startServer (args: string[]): Promise<Server> {
  const child = fork(serverScript, args, { execArgv: [...TSX_EXEC_ARGV], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message: { port: number }) => resolve(message.port))
    child.once('exit', code => reject(new Error(`bench server (${args[0]}) exited with ${code}`)))
  })
  return { child, url: `http://127.0.0.1:${port}/_schedule/run` }
}

async function stopServer (server: Server): Promise<void> {
  if (server.child.exitCode !== null) return
  const exited = new Promise(resolve => server.child.once('exit', resolve))
  server.child.kill('SIGTERM')
  await exited
}

/** Requests/s of one autocannon round; any non-2xx answer or socket error fails the bench. */
async function load (url: string, headers: Record<string, string>, seconds: number): Promise<number> {
  const result = await autocannon({ url, method: 'POST', headers, connections: CONNECTIONS, duration: seconds })
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
    throw new Error(`${url}: ${result.non2xx} non-2xx answers, ${result.errors} errors, ${result.timeouts} timeouts`)
  }
  return result.requests.total / (result.duration || seconds)
}

export async function benchHttp (): Promise<Figures> {
  progress(`http: POST /_schedule/run (1,000 tasks, none due) vs a bare route, ${ROUNDS} × ${ROUND_SECONDS} s each`)
  const temp = tempDir('http')
  const token = randomBytes(24).toString('hex')
  const servers: Server[] = []
  try {
    const ours = await startServer(['ours', `${temp.dir}/http.sqlite`, token])
    servers.push(ours)
    const bare = await startServer(['bare'])
    servers.push(bare)
    const headers = { authorization: `Bearer ${token}` }

    // The first tick registers the tasks with the store; after it nothing is due.
    const first = await fetch(ours.url, { method: 'POST', headers })
    const answer = await first.json() as { summary?: string }
    if (first.status !== 200 || answer.summary !== 'nothing was due') {
      throw new Error(`the first tick answered ${first.status} ${JSON.stringify(answer)}; expected 200 "nothing was due"`)
    }
    await load(ours.url, headers, 1)
    await load(bare.url, {}, 1)
    const measured = await alternate(ROUNDS,
      () => load(ours.url, headers, ROUND_SECONDS),
      () => load(bare.url, {}, ROUND_SECONDS))
    return {
      runEndpointVsBare: figure(measured.ours / measured.baseline, HTTP_GOALS.runEndpointVsBare, {
        oursRequestsPerSecond: Math.round(measured.ours),
        bareRequestsPerSecond: Math.round(measured.baseline),
        connections: CONNECTIONS,
        rounds: ROUNDS,
        roundSeconds: ROUND_SECONDS
      })
    }
  } finally {
    await Promise.all(servers.map(stopServer))
    temp.remove()
  }
}

runAlone(import.meta.url, benchHttp)
