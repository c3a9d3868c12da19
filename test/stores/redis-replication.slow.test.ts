/**
 * A store that went back in time (docs/ARCHITECTURE.md#the-fault-model), on a real primary
 * and replica of our own: with `waitReplicas` a claim counts only once a replica has it;
 * without it, a failover to a replica that lagged hands out a fencing counter smaller than
 * tokens already given (what the scheduler detects), and `rebase` raises it again so that
 * no token is ever handed out twice.
 */
import { Redis } from 'ioredis'
import t from 'tap'
import { redisStore } from '../../plugin/stores/redis/index.js'
import type { RunRecord, StartRunRequest } from '../../plugin/stores/store.js'
import { needs } from '../helpers/services.js'
import { eventually } from '../helpers/outage.js'
import { tcpProxy } from '../helpers/tcp-proxy.js'
import { T0, run } from './conformance.js'
import { ownRedis, whyNoRedisServer } from './redis-server.js'

const canStartRedis = needs(whyNoRedisServer())
const NO_PERSISTENCE = ['--save', '', '--appendonly', 'no']
const MINUTE = 60_000

/** The start of `task`'s occurrence `minute` minutes after T0, as the scheduler makes it. */
function scheduledStart (id: string, task: string, minute: number): StartRunRequest {
  const at = T0 + minute * MINUTE
  const running: RunRecord = { ...run(id, task, minute, 'running'), scheduledFor: new Date(at), startedAt: new Date(at) }
  return { run: running, claim: 'occurrence', lease: { key: `${task}:${id}`, ttlMs: MINUTE, nowMs: at }, historyLimit: 100 }
}

function tokenOf (result: Awaited<ReturnType<ReturnType<typeof redisStore>['startRun']>>): number {
  if (result.outcome !== 'started') throw new Error(`expected a start, got ${JSON.stringify(result)}`)
  return result.leaseToken
}

t.test('waitReplicas: a claim the replica did not acknowledge fails; a failover to the lagging replica is rebased', canStartRedis, async (t) => {
  const primary = await ownRedis(t, NO_PERSISTENCE)
  // The replica replicates through a proxy that can black-hole the link: the replication
  // stream is then dropped, as on a lagging network (a stopped replica would still find it
  // buffered by its kernel when it resumes).
  const link = await tcpProxy(t, primary.port)
  const replica = await ownRedis(t, [...NO_PERSISTENCE, '--replicaof', '127.0.0.1', String(link.port)])
  const admin = new Redis(primary.url)
  t.teardown(() => admin.disconnect())
  await eventually(async () => { if (await admin.wait(1, 100) < 1) throw new Error('the replica has not synced yet') }, 10_000)

  const waiting = redisStore({ url: primary.url, prefix: 'sched:', waitReplicas: 1, waitTimeout: '1 second' })
  const plain = redisStore({ url: primary.url, prefix: 'sched:' })
  t.teardown(() => waiting.close())
  t.teardown(() => plain.close())
  await waiting.init()
  await plain.init()
  await waiting.ensureTasks(['report'], new Date(T0))
  const seen: number[] = [tokenOf(await waiting.startRun(scheduledStart('a', 'report', 1)))]
  t.equal(seen[0], 1, 'with the replica live, a claim is acknowledged and counts')

  // Replication stalls: the link drops everything both ways, sockets kept open.
  link.blackhole()
  const started = performance.now()
  await t.rejects(waiting.startRun(scheduledStart('b', 'report', 2)), {
    code: 'FST_SCHEDULER_STORE_UNAVAILABLE',
    message: /claim not acknowledged by 1 replica within 1000 ms \(0 acknowledged\)$/
  }, 'waitReplicas 1: the start fails, naming the missing acknowledgement')
  t.ok(performance.now() - started < 4000, 'after the wait timeout (1 s), not the command timeout (5 s)')
  for (const minute of [3, 4]) seen.push(tokenOf(await plain.startRun(scheduledStart(`p${minute}`, 'report', minute))))
  t.same(seen, [1, 3, 4], 'without waitReplicas the starts succeed (token 2 went to the start that failed)')

  // The primary dies; the replica, which never got those claims, is promoted and the name points at it.
  await primary.kill()
  const promote = new Redis(replica.url)
  t.teardown(() => promote.disconnect())
  await promote.replicaof('NO', 'ONE')
  const promoted = redisStore({ url: replica.url, prefix: 'sched:' })
  t.teardown(() => promoted.close())
  await promoted.init()
  const highest = Math.max(...seen)
  const { fence } = await promoted.heartbeat()
  t.equal(fence, 1, 'the promoted replica only has the acknowledged claim')
  t.ok(fence < highest, `fence ${fence} < token ${highest} handed out before: the store went back in time, and it shows`)
  t.equal(tokenOf(await promoted.startRun(scheduledStart('again', 'report', 3))), 2,
    'left as it is, the store would hand out token 2 a second time (the hazard rebase prevents)')

  const firstSeen = new Date(T0 + 10 * MINUTE)
  const states = await promoted.rebase(['report'], firstSeen, highest)
  t.same(states.get('report'), { firstSeen, lastOccurrence: new Date(T0 + 3 * MINUTE) }, 'first seen now, last occurrence kept')
  t.equal((await promoted.heartbeat()).fence, highest, 'the counter is raised to the highest token seen')
  t.same(await promoted.startRun(scheduledStart('old', 'report', 4)), { outcome: 'stale' }, 'an occurrence before the rebase is not claimed again')
  const next = tokenOf(await promoted.startRun(scheduledStart('next', 'report', 11)))
  t.ok(next > highest, `the next start gets token ${next}, greater than every token seen (${highest})`)
})

t.test('waitReplicas and waitTimeout are checked when the store is created', async (t) => {
  const url = 'redis://127.0.0.1:6379'
  for (const waitReplicas of [0, -1, 1.5, Number.NaN]) {
    t.throws(() => redisStore({ url, waitReplicas }), { code: 'FST_SCHEDULER_INVALID_OPTION', message: /waitReplicas must be a whole number/ }, `waitReplicas ${waitReplicas}`)
  }
  t.throws(() => redisStore({ url, waitTimeout: 100 }), { code: 'FST_SCHEDULER_INVALID_OPTION', message: /waitTimeout needs waitReplicas/ })
  t.throws(() => redisStore({ url, waitReplicas: 1, waitTimeout: '2 fortnights' }), { code: 'FST_SCHEDULER_INVALID_OPTION', message: /waitTimeout "2 fortnights"/ })
  t.throws(() => redisStore({ url, waitReplicas: 1, waitTimeout: 0 }), { code: 'FST_SCHEDULER_INVALID_OPTION', message: /waitTimeout must be a whole number/ })
  t.throws(() => redisStore({ url, waitReplicas: 1, waitTimeout: '5 seconds', timeout: '5 seconds' }),
    { code: 'FST_SCHEDULER_INVALID_OPTION', message: /waitTimeout \(5000 ms\) must be shorter than timeout \(5000 ms\)/ })
  const store = redisStore({ url, waitReplicas: 2, waitTimeout: '1.5 seconds', timeout: '10 seconds' })
  await store.close()
})
