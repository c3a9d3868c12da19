/**
 * Issue 10, notifications: scheduler hooks (onRunStart, onRunEnd), a task's onSuccess and
 * onFailure, and per-task heartbeat URLs (Healthchecks.io convention), tested against a
 * local HTTP server. Hooks run after the record is written, are bounded, and never change
 * the run's outcome.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import type { RunRecord } from '../../plugin/stores/store.js'
import { defineTask } from '../../tasks/task.js'
import { at, buildApp } from '../helpers/app.js'
import { HOOK_TIMEOUT_MS, heartbeatUrl } from '../../plugin/hooks.js'

/** A local server recording each request's method, path and body; `hang` paths never answer. */
async function pingServer (hang: (path: string) => boolean = () => false) {
  const hits: Array<{ method: string, path: string, body: string }> = []
  const server: Server = createServer((request: IncomingMessage, response) => {
    let body = ''
    request.setEncoding('utf8').on('data', chunk => { body += chunk }).on('end', () => {
      hits.push({ method: request.method!, path: request.url!, body })
      if (hang(request.url!)) return
      response.end('OK')
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    base: `http://127.0.0.1:${port}/ping/abc-123`,
    hits,
    close: () => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) })
  }
}

t.test('heartbeat URLs follow the Healthchecks.io convention', async t => {
  const base = new URL('https://hc-ping.com/uuid')
  t.equal(heartbeatUrl(base, 'start'), 'https://hc-ping.com/uuid/start')
  t.equal(heartbeatUrl(base, 'success'), 'https://hc-ping.com/uuid')
  t.equal(heartbeatUrl(base, 'fail'), 'https://hc-ping.com/uuid/fail')
  t.equal(heartbeatUrl(new URL('https://hc-ping.com/uuid/?x=1'), 'fail'), 'https://hc-ping.com/uuid/fail?x=1', 'a trailing slash and a query are kept right')
})

t.test('a task\'s heartbeat: /start on start, the URL on success, /fail with the message on failure', async t => {
  const server = await pingServer()
  t.teardown(() => server.close())
  let fail = false
  const app = await buildApp({
    tasks: [defineTask({ name: 'pinged', runEveryMinute: true, heartbeat: server.base, handle () { if (fail) throw new Error('disk full') } })]
  })
  t.teardown(() => app.close())
  await (await app.scheduler.tick(at('2026-05-11 10:00'))).settled
  fail = true
  await (await app.scheduler.tick(at('2026-05-11 10:01'))).settled
  await app.close() // waits for the notifications
  const paths = server.hits.map(hit => `${hit.method} ${hit.path}`)
  t.same(paths.filter(p => p.endsWith('/start')).length, 2, 'start hit once per run')
  t.same(paths.filter(p => p === 'POST /ping/abc-123').length, 1, 'success hit once')
  t.same(server.hits.filter(hit => hit.path.endsWith('/fail')).map(hit => hit.body), ['disk full'], 'fail hit once, with the message')
})

t.test('a hanging heartbeat server does not delay the run\'s record, nor its outcome', async t => {
  const server = await pingServer(() => true)
  t.teardown(() => server.close())
  const app = await buildApp({ tasks: [defineTask({ name: 'pinged', runEveryMinute: true, heartbeat: server.base, handle () {} })] })
  t.teardown(() => app.close())
  const started = performance.now()
  const [outcome] = await (await app.scheduler.tick(at('2026-05-11 10:00'))).settled
  const elapsed = performance.now() - started
  t.equal(outcome?.status, 'succeeded')
  // Waiting for the hanging heartbeat would take HOOK_TIMEOUT_MS (5 s); the margin is for a starved CPU.
  t.ok(elapsed < HOOK_TIMEOUT_MS - 1000, `the outcome came in ${Math.round(elapsed)} ms, not after the heartbeat's timeout`)
  t.equal((await app.scheduler.history()).runs[0]?.status, 'succeeded', 'the record is written')
})

t.test('scheduler hooks get the run records; a throwing or hanging hook changes nothing', async t => {
  const starts: RunRecord[] = []
  const ends: RunRecord[] = []
  const app = await buildApp({
    tasks: [
      defineTask({ name: 'ok', runEveryMinute: true, handle () {} }),
      defineTask({ name: 'bad', runEveryMinute: true, retries: { attempts: 2 }, handle () { throw new Error('nope') } })
    ]
  })
  t.teardown(() => app.close())
  app.scheduler.addHook('onRunStart', run => { starts.push(run) })
  app.scheduler.addHook('onRunEnd', async run => {
    // Called after the record is written: the store already has the final status.
    const stored = (await app.scheduler.history({ task: [run.task] })).runs.find(r => r.id === run.id)
    t.equal(stored?.status, run.status, `${run.task}: the record was written before onRunEnd`)
    ends.push(run)
  })
  app.scheduler.addHook('onRunEnd', () => { throw new Error('hook bug') })
  app.scheduler.addHook('onRunEnd', () => new Promise(() => {}))
  t.throws(() => app.scheduler.addHook('onRunEnds' as 'onRunEnd', () => {}), { message: /unknown hook "onRunEnds" — did you mean "onRunEnd"\?/ })
  const outcomes = await (await app.scheduler.tick(at('2026-05-11 10:00'))).settled
  t.same(outcomes.map(o => [o.task, o.status]).sort(), [['bad', 'failed'], ['ok', 'succeeded']], 'outcomes unchanged by the hooks')
  await app.close()
  t.same(starts.map(r => [r.task, r.status]).sort(), [['bad', 'running'], ['ok', 'running']])
  t.same(ends.map(r => [r.task, r.status, r.attempt, r.error ?? null]).sort(), [['bad', 'failed', 1, 'nope'], ['ok', 'succeeded', 1, null]])
  t.ok(ends.every(r => typeof r.durationMs === 'number' && r.instance !== undefined), 'with duration and the process that ran it')
})

t.test('a task\'s onSuccess and onFailure run after the record, with the context and the error', async t => {
  const calls: string[] = []
  const app = await buildApp({
    tasks: [
      defineTask({
        name: 'good',
        runEveryMinute: true,
        handle () {},
        onSuccess (ctx) { calls.push(`success ${ctx.task} ${ctx.attempt}`) }
      }),
      defineTask({
        name: 'broken',
        runEveryMinute: true,
        handle () { throw new Error('smtp down') },
        async onFailure (ctx, error) {
          const [record] = (await ctx.app.scheduler.history({ task: ['broken'] })).runs
          calls.push(`failure ${ctx.task} ${(error as Error).message} record:${record?.status}`)
          throw new Error('the failure hook fails too')
        }
      })
    ]
  })
  t.teardown(() => app.close())
  const outcomes = await (await app.scheduler.tick(at('2026-05-11 10:00'))).settled
  await app.close()
  t.same(calls.sort(), ['failure broken smtp down record:failed', 'success good 1'])
  t.same(outcomes.map(o => o.status).sort(), ['failed', 'succeeded'], 'a throwing onFailure changes nothing')
})
