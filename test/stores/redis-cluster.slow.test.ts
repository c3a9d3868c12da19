/**
 * The Redis store on a real Redis Cluster of our own (6 redis-server processes, 3 masters
 * with a replica each, made by `redis-cli --cluster create`), through an ioredis `Cluster`
 * client, as users run it: a hash-tag prefix keeps every key in one slot, so claims hold
 * (100 concurrent starts of one occurrence: one winner) and survive a master failover; a
 * plain prefix is refused when the store is created, with the fix in the message.
 */
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { Cluster, Redis } from 'ioredis'
import t from 'tap'
import { redisStore } from '../../plugin/stores/redis/index.js'
import type { StartRunResult, Store } from '../../plugin/stores/store.js'
import { needs } from '../helpers/services.js'
import { eventually } from '../helpers/outage.js'
import { T0, claimRace, run } from './conformance.js'
import { ownRedis, whyNoRedisServer, type OwnRedis } from './redis-server.js'

const MINUTE = 60_000
const PREFIX = '{sched}:'

/** Why no cluster can be made here, or undefined. */
async function whyNoCluster (): Promise<string | undefined> {
  const noServer = whyNoRedisServer()
  if (noServer !== undefined) return noServer
  const help = await output('redis-cli', ['--cluster', 'help'])
  return help.includes('create') ? undefined : 'redis-cli --cluster create is not available (redis-cli older than 5)'
}

/** What a command printed (stdout and stderr), once it exited. */
async function output (command: string, args: string[]): Promise<string> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let text = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { text += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { text += chunk })
  return await new Promise((resolve) => {
    child.once('error', (err) => resolve(String(err)))
    child.once('close', () => resolve(text))
  })
}

/** True when `port` can be bound on 127.0.0.1 right now. */
async function bindable (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/** `n` free ports whose cluster bus ports (port + 10000) are free too. */
async function clusterPorts (n: number): Promise<number[]> {
  const ports: number[] = []
  while (ports.length < n) {
    const port = 20_000 + Math.floor(Math.random() * 30_000)
    if (ports.includes(port) || ports.includes(port - 10_000) || ports.includes(port + 10_000)) continue
    if (await bindable(port) && await bindable(port + 10_000)) ports.push(port)
  }
  return ports
}

const skip = needs(await whyNoCluster())

t.test('Redis Cluster: hash-tag prefix, one winner per occurrence, a master failover mid-claims', skip, async (t) => {
  const ports = await clusterPorts(6)
  const nodes: OwnRedis[] = await Promise.all(ports.map((port) => ownRedis(t, [
    '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000',
    '--save', '', '--appendonly', 'no'
  ], port)))
  const created = await output('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`),
    '--cluster-replicas', '1', '--cluster-yes'])
  t.match(created, /All 16384 slots covered/, 'redis-cli --cluster create made the cluster')
  const admins = nodes.map((node) => new Redis(node.url))
  t.teardown(() => { for (const admin of admins) admin.disconnect() })
  await eventually(async () => {
    for (const admin of admins) {
      if (!String(await admin.cluster('INFO')).includes('cluster_state:ok')) throw new Error('cluster not ready')
    }
  }, 20_000)

  const clients = [0, 1].map(() => new Cluster([{ host: '127.0.0.1', port: ports[0]! }], { retryDelayOnFailover: 200 }))
  t.teardown(() => { for (const client of clients) client.disconnect() })

  t.test('a prefix without a hash tag is refused, with the fix', async (t) => {
    t.throws(() => redisStore({ client: clients[0]! }), {
      code: 'FST_SCHEDULER_INVALID_OPTION',
      message: 'redisStore: prefix "fastify-scheduler:" spreads keys over slots on Redis Cluster; use a hash tag, e.g. "{fastify-scheduler}:"'
    }, 'the default prefix')
    t.throws(() => redisStore({ client: clients[0]!, prefix: 'jobs:' }), { code: 'FST_SCHEDULER_INVALID_OPTION', message: /use a hash tag, e.g. "\{jobs\}:"$/ })
    t.throws(() => redisStore({ client: clients[0]!, prefix: '{}:' }), { code: 'FST_SCHEDULER_INVALID_OPTION' }, 'an empty tag hashes the whole key')
  })

  const stores: Store[] = clients.map((client) => redisStore({ client, prefix: PREFIX }))
  for (const store of stores) await store.init()

  t.test('every method runs on the cluster (no CROSSSLOT), 100 concurrent starts: one winner', async (t) => {
    for (const store of stores) await store.ensureTasks(['report'], new Date(T0))
    t.equal(await claimRace(stores, 'report', new Date(T0 + MINUTE), 100), 1, 'exactly one of 100 starts won')
    const store = stores[0]!
    const done = { ...run('done', 'report', 2), scheduledFor: new Date(T0 + MINUTE) }
    await store.finishRun(done, { historyLimit: 10, retry: { of: new Date(T0 + MINUTE), attempt: 2, at: new Date(T0 + 3 * MINUTE) } })
    t.match(await store.heartbeat({ at: new Date(T0), instance: 'a:1' }), { lastTick: new Date(T0), fence: 1 })
    t.ok((await store.listRuns({ task: ['report'] })).total >= 2, 'history lists the runs')
    t.ok((await store.recentRuns(['report'], 5)).get('report')!.length >= 2)
    t.same((await store.abandonExpired(T0 + 10 * MINUTE, 'lease expired')).map((r) => r.status), ['abandoned'], 'the winner\'s run is reaped')
    t.same((await store.rebase(['report'], new Date(T0 + 5 * MINUTE), 7)).get('report'), { firstSeen: new Date(T0 + 5 * MINUTE), lastOccurrence: new Date(T0 + MINUTE) })
    t.equal((await store.heartbeat()).fence, 7)
    t.ok(Math.abs(await store.time!() - Date.now()) < 5000, 'time() reads the cluster node clock')
  })

  t.test('a master failover in the middle of a sequence of claims: every occurrence claimed at most once', async (t) => {
    const slot = Number(await admins[0]!.cluster('KEYSLOT', `${PREFIX}last`))
    // `--cluster create` returns before every replica has joined its master: wait until the owner has one.
    const owner = await eventually(async () => ownerOf(await admins[0]!.cluster('SHARDS') as unknown[], slot), 20_000)
    const replicaPort = owner.replica
    const replicaAdmin = admins[ports.indexOf(replicaPort)]!
    const starts = new Map<number, StartRunResult[]>()
    let failures = 0
    let promotedAt: number | undefined
    let failedOver: Promise<void> | undefined
    // Claims go on, one occurrence after another, until 10 occurrences after the replica took over.
    let currentMinute = 10
    const claimsBegan = performance.now()
    for (let minute = 10; promotedAt === undefined || minute < promotedAt + 10; minute++) {
      if (minute === 15) {
        // Sent to the replica of the master that owns the store's slot: it takes over while claims go on.
        failedOver = replicaAdmin.cluster('FAILOVER').then(() => eventually(async () => {
          if (!String(await replicaAdmin.info('replication')).includes('role:master')) throw new Error('not promoted yet')
        }, 20_000)).then(() => { promotedAt = currentMinute })
      }
      // Bounded in time, not in occurrences: a quiet machine claims thousands while the cluster fails over.
      if (performance.now() - claimsBegan > 30_000) throw new Error('the failover never completed')
      currentMinute = minute
      const at = new Date(T0 + minute * MINUTE)
      const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => stores[i % 2]!.startRun({
        run: { ...run(`f-${minute}-${i}`, 'report', minute, 'running'), scheduledFor: at, startedAt: at },
        claim: 'occurrence',
        lease: { key: `report:${minute}`, ttlMs: MINUTE, nowMs: at.getTime() },
        historyLimit: 1000
      })))
      failures += results.filter((r) => r.status === 'rejected').length
      starts.set(minute, results.flatMap((r) => r.status === 'fulfilled' ? [r.value] : []))
    }
    await failedOver
    t.match(String(await replicaAdmin.info('replication')), /role:master/, 'the replica took over the slot')
    const twice = [...starts].filter(([, results]) => results.filter((r) => r.outcome === 'started').length > 1).map(([minute]) => minute)
    t.same(twice, [], 'no occurrence started more than once')
    const records = (await stores[0]!.listRuns({ task: ['report'], limit: 1000 })).runs.filter((r) => r.id.startsWith('f-'))
    const perOccurrence = new Map<number, number>()
    for (const record of records) perOccurrence.set(record.scheduledFor.getTime(), (perOccurrence.get(record.scheduledFor.getTime()) ?? 0) + 1)
    t.ok([...perOccurrence.values()].every((n) => n === 1), `one record per occurrence claimed (${perOccurrence.size} occurrences, ${failures} calls failed during the failover)`)
    const last = Math.max(...starts.keys())
    t.ok(promotedAt! >= 15, `the replica took over while the claims of occurrence ${promotedAt} were under way`)
    t.ok(perOccurrence.has(T0 + last * MINUTE), 'claims go on after the failover')
  })
})

/** The master owning `slot` and its replica's port, from CLUSTER SHARDS. */
function ownerOf (shards: unknown[], slot: number): { master: number, replica: number } {
  for (const shard of shards as unknown[][]) {
    const fields = pairs(shard)
    const slots = fields.get('slots') as number[]
    let owns = false
    for (let i = 0; i < slots.length; i += 2) if (slot >= Number(slots[i]) && slot <= Number(slots[i + 1])) owns = true
    if (!owns) continue
    const nodes = (fields.get('nodes') as unknown[][]).map(pairs)
    const port = (role: string) => {
      const node = nodes.find((n) => n.get('role') === role && n.get('health') === 'online')
      if (node === undefined) throw new Error(`the shard of slot ${slot} has no ${role} online yet`)
      return Number(node.get('port'))
    }
    return { master: port('master'), replica: port('replica') }
  }
  throw new Error(`no shard owns slot ${slot}`)
}

function pairs (flat: unknown[]): Map<string, unknown> {
  const map = new Map<string, unknown>()
  for (let i = 0; i < flat.length; i += 2) map.set(String(flat[i]), flat[i + 1])
  return map
}
