/**
 * Dead connections are replaced (docs/ARCHITECTURE.md#the-fault-model): a Redis host that
 * vanishes without a reset (black-holed: no RST, packets dropped) must not keep the store's
 * connection hostage until the kernel gives up (~15 minutes). Through a userspace TCP proxy
 * in front of our own redis-server: black-holed, calls fail with the coded error within the
 * timeout; healed or repointed, the next call after the timeout succeeds.
 */
import { Redis } from 'ioredis'
import t from 'tap'
import { redisStore } from '../../plugin/stores/redis/index.js'
import { needs } from '../helpers/services.js'
import { eventually } from '../helpers/outage.js'
import { tcpProxy } from '../helpers/tcp-proxy.js'
import { T0 } from './conformance.js'
import { ownRedis, whyNoRedisServer } from './redis-server.js'

const canStartRedis = needs(whyNoRedisServer())
const NO_PERSISTENCE = ['--save', '', '--appendonly', 'no']
const TIMEOUT = 500
/** How soon after the fault ends a call must succeed: the timeout, one reconnect delay (<= 2 s), and slack for a loaded machine (not ~900 s). */
const RECOVERY_BOUND = TIMEOUT + 2000 + 7500

t.test('a black-holed host: calls fail within the timeout, and once healed the next call succeeds', canStartRedis, async (t) => {
  const server = await ownRedis(t, NO_PERSISTENCE)
  const proxy = await tcpProxy(t, server.port)
  const store = redisStore({ url: `redis://127.0.0.1:${proxy.port}`, prefix: 'blackhole:', timeout: `${TIMEOUT} ms` })
  t.teardown(() => store.close())
  await store.init()
  await store.ensureTasks(['report'], new Date(T0))

  proxy.blackhole()
  for (let i = 0; i < 3; i++) {
    const started = performance.now()
    await t.rejects(store.heartbeat(), { code: 'FST_SCHEDULER_STORE_UNAVAILABLE' }, `call ${i + 1} while black-holed: the coded error`)
    const took = performance.now() - started
    t.ok(took < TIMEOUT + 3000, `call ${i + 1} failed after ${Math.round(took)} ms (timeout ${TIMEOUT})`)
  }
  const connectionsBefore = proxy.accepted

  proxy.heal()
  const healed = performance.now()
  const state = await eventually(() => store.heartbeat(), RECOVERY_BOUND)
  const recovered = performance.now() - healed
  t.equal(state.fence, 0, 'the store answers again')
  t.ok(recovered < RECOVERY_BOUND, `the first call succeeded ${Math.round(recovered)} ms after the heal`)
  t.ok(proxy.accepted > connectionsBefore, 'on a new connection: the silent one was destroyed, not reused')
})

t.test('a black-holed host whose name is repointed: the next call after the timeout reaches the new host', canStartRedis, async (t) => {
  const oldHost = await ownRedis(t, NO_PERSISTENCE)
  const newHost = await ownRedis(t, NO_PERSISTENCE)
  const proxy = await tcpProxy(t, oldHost.port)
  const store = redisStore({ url: `redis://127.0.0.1:${proxy.port}`, prefix: 'repoint:', timeout: TIMEOUT })
  t.teardown(() => store.close())
  await store.init()
  await store.ensureTasks(['report'], new Date(T0))

  // The old host vanishes for good (its packets dropped, nothing reset), and the name moves on.
  proxy.blackhole()
  proxy.repoint({ host: '127.0.0.1', port: newHost.port })
  const started = performance.now()
  await t.rejects(store.ensureTasks(['report'], new Date(T0)), { code: 'FST_SCHEDULER_STORE_UNAVAILABLE' },
    'the call in flight on the dead connection fails with the coded error')
  t.ok(performance.now() - started < TIMEOUT + 3000, 'within the timeout')

  const states = await eventually(() => store.ensureTasks(['report'], new Date(T0 + 60_000)), RECOVERY_BOUND)
  const recovered = performance.now() - started
  t.ok(recovered < RECOVERY_BOUND, `a call succeeded ${Math.round(recovered)} ms after the first failure (not after ~900 s)`)
  t.same(states.get('report'), { firstSeen: new Date(T0 + 60_000) }, 'on the new host, which had never seen the task')
  const inspect = new Redis(newHost.url)
  t.teardown(() => inspect.quit())
  t.equal(await inspect.hget('repoint:first', 'report'), String(T0 + 60_000), 'the keys are on the new host')
})
