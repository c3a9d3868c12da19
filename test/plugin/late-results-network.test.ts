/**
 * Late results against the real servers (docs/ARCHITECTURE.md#late-results): replica A reaches
 * Redis or PostgreSQL through a userspace TCP proxy that black-holes (no reset: the sockets
 * stay open, nothing gets through), replica B directly. A's run succeeds while it is cut off;
 * B reaps it after its lease and arms the retry; when the proxy heals, A's waiting record
 * lands before A claims anything, replaces the `abandoned` mark and cancels the retry. The
 * task's own ledger is the ground truth: the occurrence ran once.
 */
import t, { type Test } from 'tap'
import { postgresStore, redisStore } from '../../index.js'
import type { Store } from '../../plugin/stores/store.js'
import { defineTask } from '../../tasks/task.js'
import { at, buildApp, testClock } from '../helpers/app.js'
import { reportLedger } from '../helpers/ledger.js'
import { eventually } from '../helpers/outage.js'
import { postgresService, redisService } from '../helpers/services.js'
import { TcpProxy } from '../helpers/tcp-proxy.js'

async function partitionedMidRun (t: Test, kind: string, direct: () => Store, throughProxy: (port: number) => Store, upstreamPort: number): Promise<void> {
  const proxy = new TcpProxy({ upstream: { host: '127.0.0.1', port: upstreamPort } })
  await proxy.listen()
  t.teardown(() => proxy.close())
  const clock = testClock(at('2026-05-12 16:59'))
  const ledger: string[] = []
  let finish!: () => void
  const report = (blocking: boolean) => defineTask({
    name: 'report',
    runAt: '17:00',
    retries: { attempts: 3, delay: '1 minute' },
    async handle (ctx) {
      ledger.push(`${ctx.scheduledFor.toISOString().slice(11, 16)} attempt ${ctx.attempt}`)
      if (blocking) await new Promise<void>(resolve => { finish = resolve })
    }
  })
  const other = defineTask({ name: 'other', runEveryMinute: true, handle () {} })
  // Store timeouts long enough that a healthy call on a loaded CPU is never taken for the partition.
  const common = { clock, maxClockSkew: false, storeTimeout: '3 seconds' } as const
  const a = await buildApp({ ...common, store: throughProxy(proxy.port), tasks: [report(true), other] })
  const b = await buildApp({ ...common, store: direct(), tasks: [report(false), other] })
  t.teardown(async () => { await a.close(); await b.close() })
  const tick = async (app: typeof a, time: string) => {
    clock.set(at(time))
    return await app.scheduler.tick()
  }

  const started = await tick(a, '2026-05-12 17:00')
  t.equal(started.runs.find(run => run.task === 'report')?.status, 'started')
  proxy.blackhole()
  finish()
  const outcomes = await started.settled
  t.equal(outcomes.find(run => run.task === 'report')?.status, 'succeeded', 'A answers how its run ended')

  await (await tick(b, '2026-05-12 17:05')).settled // B reaps the run (its lease expired at 17:01) and arms attempt 2
  const shared = direct()
  t.teardown(() => shared.close())
  await shared.init()
  t.equal((await shared.listRuns({ task: ['report'] })).runs[0]?.status, 'abandoned', 'B recorded it abandoned')
  t.same((await shared.heartbeat()).retries.map(retry => retry.at), [at('2026-05-12 17:10')], 'the retry waits lateResultGrace')

  proxy.heal()
  // A's next tick writes the waiting record before it claims anything, once its client has
  // replaced the dead connection (a real reconnect: waited for, not faked).
  await eventually(async () => await (await tick(a, '2026-05-12 17:06')).settled, 15_000)
  t.equal((await shared.listRuns({ task: ['report'] })).runs[0]?.status, 'succeeded', 'the late success replaced the mark')
  t.same((await shared.heartbeat()).retries, [], 'and cancelled the retry')
  await (await tick(b, '2026-05-12 17:10')).settled
  await (await tick(b, '2026-05-12 17:11')).settled
  t.match(reportLedger(t, `a success lands after a partition longer than the lease (${kind}, black-holed)`, ['17:00 attempt 1'], ledger),
    { lost: 0, duplicated: 0 }, 'the occurrence ran once')
}

t.test('Redis partitioned mid-run', async t => {
  const redis = await redisService(t)
  if (redis === undefined) return
  const port = Number(new URL(redis.url).port || 6379)
  await partitionedMidRun(t, 'Redis',
    () => redisStore({ url: redis.url, prefix: redis.prefix }),
    proxyPort => redisStore({ url: `redis://127.0.0.1:${proxyPort}`, prefix: redis.prefix, timeout: '3 seconds' }),
    port)
})

t.test('PostgreSQL partitioned mid-run', async t => {
  const postgres = await postgresService(t)
  if (postgres === undefined) return
  const url = new URL(postgres.connectionString)
  const port = Number(url.port || 5432)
  await partitionedMidRun(t, 'PostgreSQL',
    () => postgresStore({ connectionString: postgres.connectionString, schema: postgres.schema }),
    proxyPort => {
      const viaProxy = new URL(postgres.connectionString)
      viaProxy.hostname = '127.0.0.1'
      viaProxy.port = String(proxyPort)
      return postgresStore({ connectionString: viaProxy.toString(), schema: postgres.schema, timeout: '3 seconds' })
    },
    port)
})
