/**
 * Requests/s of the trigger's hot paths against bare Fastify doing the nearest equivalent,
 * each server listening on 127.0.0.1 in a process of its own, driven by autocannon from
 * this one in alternating rounds:
 *
 * - runEndpointVsBare: `POST /_schedule/run` (1,000 tasks, none due, SQLite store in a temp
 *   file, bearer auth) against a bare POST route answering a body of the same shape, both
 *   apps with `logger: false`;
 * - runEndpointVsBareLogged: the same with Fastify's production logger (pino at info, to
 *   /dev/null) on both sides, so every line either side writes is paid for;
 * - unauthorizedVsBare404: the trigger without credentials (401) against a bare app's 404.
 *
 * A first request (and a warm-up round) does the store round trip of the first tick, so
 * measured ticks have nothing due. Every server, ours and bare alike, runs a full garbage
 * collection after its boot and again after the first tick, before any load: without it a
 * process whose boot allocated a lot (1,000 tasks; or a bare app given the same allocation)
 * lands in a slower V8 state in a third to a half of the runs, where Node's own `process.nextTick` object literal goes through the runtime on
 * every call, for the life of the process (docs/RELIABILITY.md, "Settling the heap"). Each
 * figure's detail also gives the servers' CPU time per request (µs), which a busy machine
 * disturbs less than requests/s.
 *
 *   npx tsx bench/http.ts [--json]
 */
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { alternate, figure, goal, median, progress, round, runAlone, tempDir, TSX_EXEC_ARGV, type Figure, type Figures, type Goal } from './util.js'

// Many short rounds, each ratio taken from two samples back to back (docs/RELIABILITY.md,
// "Pairing the rounds"): on this shared machine requests/s drift by ±20 % within seconds.
const ROUNDS = 8
const ROUND_SECONDS = 2
const CONNECTIONS = 10
const COMMAND = 'npx tsx bench/http.ts'
const RATIO = '× (ours req/s ÷ bare req/s)'

export const HTTP_GOALS = {
  runEndpointVsBare: goal('>=', 0.9, RATIO, COMMAND),
  runEndpointVsBareLogged: goal('>=', 0.9, RATIO, COMMAND),
  unauthorizedVsBare404: goal('>=', 0.9, '× (401 req/s ÷ bare 404 req/s)', COMMAND)
}
const serverScript = fileURLToPath(new URL('./fixtures/http-server.ts', import.meta.url))

type Logging = 'quiet' | 'logged'

interface Server { child: ChildProcess, origin: string }

/** One kind of request: where it goes, what it sends and the only status it may get. */
interface Target { server: Server, path: string, headers: Record<string, string>, status: number }

async function startServer (args: string[]): Promise<Server> {
  const child = fork(serverScript, args, { execArgv: ['--expose-gc', ...TSX_EXEC_ARGV], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message: { port: number }) => resolve(message.port))
    child.once('exit', code => reject(new Error(`bench server (${args.join(' ')}) exited with ${code}`)))
  })
  return { child, origin: `http://127.0.0.1:${port}` }
}

async function stopServer (server: Server): Promise<void> {
  if (server.child.exitCode !== null) return
  const exited = new Promise(resolve => server.child.once('exit', resolve))
  server.child.kill('SIGTERM')
  await exited
}

/** Send `message` to the server and wait for its one answer. */
async function ask<T> (server: Server, message: string): Promise<T> {
  const answer = new Promise<T>(resolve => {
    server.child.once('message', (reply: T) => resolve(reply))
  })
  server.child.send(message)
  return await answer
}

/** A full garbage collection in the server, once its boot is over (docs/RELIABILITY.md, "Settling the heap"). */
async function settle (server: Server): Promise<void> {
  await ask<{ settled: true }>(server, 'settle')
}

/** CPU time (µs) the server process has used so far. */
async function cpuMicros (server: Server): Promise<number> {
  return (await ask<{ cpuMicros: number }>(server, 'cpu')).cpuMicros
}

interface Round { requestsPerSecond: number, cpuMicrosPerRequest: number }

/** One autocannon round; any other status than the target's, or a socket error, fails the bench. */
async function load (target: Target, seconds: number): Promise<Round> {
  const url = target.server.origin + target.path
  const cpuBefore = await cpuMicros(target.server)
  const result = await autocannon({ url, method: 'POST', headers: target.headers, connections: CONNECTIONS, duration: seconds })
  const cpu = await cpuMicros(target.server) - cpuBefore
  const statuses = Object.keys(result.statusCodeStats ?? {}).map(Number)
  if (statuses.some(status => status !== target.status) || result.errors > 0 || result.timeouts > 0) {
    throw new Error(`${url}: statuses ${statuses.join(', ')} (expected only ${target.status}), ${result.errors} errors, ${result.timeouts} timeouts`)
  }
  return { requestsPerSecond: result.requests.total / (result.duration || seconds), cpuMicrosPerRequest: cpu / result.requests.total }
}

/** Requests/s of `ours` ÷ `baseline`: the median of alternated rounds' ratios, after a warm-up round of each. */
async function compare (label: string, g: Goal, ours: Target, baseline: Target): Promise<Figure> {
  progress(`http: ${label}, ${ROUNDS} × ${ROUND_SECONDS} s each`)
  await load(ours, 1)
  await load(baseline, 1)
  const cpu = { ours: [] as number[], baseline: [] as number[] }
  const measure = async (target: Target, side: number[]): Promise<number> => {
    const { requestsPerSecond, cpuMicrosPerRequest } = await load(target, ROUND_SECONDS)
    side.push(cpuMicrosPerRequest)
    return requestsPerSecond
  }
  const measured = await alternate(ROUNDS, () => measure(ours, cpu.ours), () => measure(baseline, cpu.baseline))
  return figure(measured.pairedRatio, g, {
    oursRequestsPerSecond: Math.round(measured.ours),
    bareRequestsPerSecond: Math.round(measured.baseline),
    oursRounds: measured.oursRounds,
    bareRounds: measured.baselineRounds,
    oursCpuMicrosPerRequest: round(median(cpu.ours)),
    bareCpuMicrosPerRequest: round(median(cpu.baseline)),
    connections: CONNECTIONS,
    rounds: ROUNDS,
    roundSeconds: ROUND_SECONDS,
    heapSettled: true
  })
}

/** The first tick registers the tasks with the store; after it nothing is due. */
async function firstTick (server: Server, headers: Record<string, string>): Promise<void> {
  const first = await fetch(`${server.origin}/_schedule/run`, { method: 'POST', headers })
  const answer = await first.json() as { summary?: string }
  if (first.status !== 200 || answer.summary !== 'nothing was due') {
    throw new Error(`the first tick answered ${first.status} ${JSON.stringify(answer)}; expected 200 "nothing was due"`)
  }
}

export async function benchHttp (): Promise<Figures> {
  const temp = tempDir('http')
  const token = randomBytes(24).toString('hex')
  const headers = { authorization: `Bearer ${token}` }
  const servers: Server[] = []
  const start = async (side: 'ours' | 'bare', logging: Logging): Promise<Server> => {
    const server = await startServer([side, `${temp.dir}/http-${logging}.sqlite`, token, logging])
    servers.push(server)
    if (side === 'ours') await firstTick(server, headers)
    await settle(server)
    return server
  }
  const trigger = (server: Server): Target => ({ server, path: '/_schedule/run', headers, status: 200 })
  const bareRoute = (server: Server): Target => ({ server, path: '/_schedule/run', headers: {}, status: 200 })
  try {
    const ours = await start('ours', 'quiet')
    const bare = await start('bare', 'quiet')
    const oursLogged = await start('ours', 'logged')
    const bareLogged = await start('bare', 'logged')
    return {
      runEndpointVsBare: await compare('POST /_schedule/run (1,000 tasks, none due) vs a bare route',
        HTTP_GOALS.runEndpointVsBare, trigger(ours), bareRoute(bare)),
      runEndpointVsBareLogged: await compare('the same, both logging at info',
        HTTP_GOALS.runEndpointVsBareLogged, trigger(oursLogged), bareRoute(bareLogged)),
      unauthorizedVsBare404: await compare('POST /_schedule/run without credentials (401) vs a bare 404',
        HTTP_GOALS.unauthorizedVsBare404,
        { server: ours, path: '/_schedule/run', headers: {}, status: 401 },
        { server: bare, path: '/missing', headers: {}, status: 404 })
    }
  } finally {
    await Promise.all(servers.map(stopServer))
    temp.remove()
  }
}

runAlone(import.meta.url, benchHttp)
