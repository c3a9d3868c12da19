/**
 * Dead connections are replaced (docs/ARCHITECTURE.md#the-fault-model): the PostgreSQL host
 * goes silent without a reset (a TCP proxy in front of the shared server black-holes every
 * connection, keeping the sockets open), then is healed or its name repointed. Calls meet
 * the coded error within the timeout while it is silent; once it is back, the very next call
 * succeeds, and no later call meets a dead pooled connection. The shared server is never
 * touched: only the proxy's sockets are held.
 */
import t, { type Test } from 'tap'
import { postgresStore } from '../../plugin/stores/postgres/index.js'
import type { Store } from '../../plugin/stores/store.js'
import { needs, postgresService, postgresUrl, probePostgres } from '../helpers/services.js'
import { TcpProxy } from '../helpers/tcp-proxy.js'
import { T0, run } from './conformance.js'

const skip = needs(await probePostgres())
const UNAVAILABLE = 'FST_SCHEDULER_STORE_UNAVAILABLE'
const TIMEOUT = 1000
/** Our own pool's size (pg's default), so the calls below keep every pooled connection busy. */
const POOL_SIZE = 10

function sharedServer (): { host: string, port: number } {
  const url = new URL(postgresUrl())
  return { host: url.hostname, port: Number(url.port || 5432) }
}

/** A store on the shared server through a proxy of its own, with ten idle pooled connections. */
async function proxiedStore (t: Test): Promise<{ proxy: TcpProxy, store: Store } | undefined> {
  const postgres = await postgresService(t)
  if (postgres === undefined) return undefined
  const proxy = new TcpProxy({ upstream: sharedServer() })
  await proxy.listen()
  t.teardown(() => proxy.close())
  const url = new URL(postgres.connectionString)
  url.hostname = '127.0.0.1'
  url.port = String(proxy.port)
  const store = postgresStore({ connectionString: url.toString(), schema: postgres.schema, timeout: TIMEOUT })
  t.teardown(() => store.close())
  await store.init()
  await store.ensureTasks(['report'], new Date(T0))
  await Promise.all(Array.from({ length: POOL_SIZE }, () => store.listRuns({})))
  return { proxy, store }
}

async function timed (call: () => Promise<unknown>): Promise<{ code?: string, ms: number }> {
  const started = performance.now()
  try {
    await call()
    return { ms: performance.now() - started }
  } catch (err) {
    return { code: (err as { code?: string }).code ?? String(err), ms: performance.now() - started }
  }
}

/** Three calls while the host is silent: each rejects with the coded error within the timeout (plus 1 s of slack). */
async function expectSilenceCoded (t: Test, store: Store): Promise<void> {
  const calls = await Promise.all([
    timed(() => store.startRun({ run: run('silent', 'report', 1, 'running'), claim: 'occurrence', lease: { key: 'report', ttlMs: 60_000, nowMs: T0 + 60_000 }, historyLimit: 10 })),
    timed(() => store.heartbeat({ at: new Date(T0), instance: 'h:1' })),
    timed(() => store.listRuns({}))
  ])
  for (const [i, name] of ['startRun', 'heartbeat', 'listRuns'].entries()) {
    t.equal(calls[i]!.code, UNAVAILABLE, `black-holed: ${name} rejects with the coded error`)
    t.ok(calls[i]!.ms < TIMEOUT + 1000, `black-holed: ${name} within the timeout (${Math.round(calls[i]!.ms)} ms, timeout ${TIMEOUT} ms)`)
  }
}

/**
 * `rounds` rounds of POOL_SIZE concurrent calls (every pooled connection in use each round):
 * the failures, by code. No clock: a dead connection in the pool shows as a failed call.
 */
async function keepCalling (store: Store, rounds: number): Promise<string[]> {
  const failures: string[] = []
  for (let round = 0; round < rounds; round++) {
    const results = await Promise.all(Array.from({ length: POOL_SIZE }, (_, i) =>
      timed(() => i % 2 === 0 ? store.listRuns({ limit: 1 }) : store.heartbeat())))
    for (const result of results) if (result.code !== undefined) failures.push(result.code)
  }
  return failures
}

/**
 * Black-hole the store's host, expect coded errors, then `recover` (heal or repoint): the next
 * call succeeds, and 30 rounds after it no call fails.
 */
async function silenceThenRecover (t: Test, recovered: string, recover: (proxy: TcpProxy) => void): Promise<void> {
  const setup = await proxiedStore(t)
  if (setup === undefined) return
  const { proxy, store } = setup
  proxy.blackhole()
  await expectSilenceCoded(t, store)
  const silent = proxy.connections
  recover(proxy)
  const next = await timed(() => store.heartbeat())
  t.equal(next.code, undefined, `${recovered}: the next call succeeds (${Math.round(next.ms)} ms)`)
  const failures = await keepCalling(store, 30)
  t.same(failures, [], `${recovered}: ${30 * POOL_SIZE} calls after, none failed (${silent} connections were black-holed)`)
}

t.test('black-holed, then healed: coded errors within the timeout, then the next call succeeds and none meets a dead connection', skip, async (t) => {
  await silenceThenRecover(t, 'healed', (proxy) => proxy.heal())
})

t.test('black-holed, then repointed to another host: the next call succeeds and no later call meets a connection to the old one', skip, async (t) => {
  // The same server stands in for the new host: the connections to the old one stay silent for ever.
  await silenceThenRecover(t, 'repointed', (proxy) => proxy.repoint(sharedServer()))
})
