/**
 * Pause and resume through `app.scheduler` (docs/PAUSE.md), on the memory store and on a
 * real SQLite file. Time is driven through tick(now); nothing sleeps.
 */
import t from 'tap'
import { mkdtempSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { defineTask } from '../../tasks/task.js'
import { memoryStore } from '../../plugin/stores/memory.js'
import { sqliteStore } from '../../plugin/stores/sqlite/index.js'
import type { Store } from '../../plugin/stores/store.js'
import { UnknownTaskError } from '../../core/errors.js'
import { at, buildApp } from '../helpers/app.js'
import type { TaskContext } from '../../tasks/types.js'

const stores: Array<[string, () => Store]> = [
  ['memory', () => memoryStore()],
  ['sqlite', () => sqliteStore({ path: join(mkdtempSync(join(tmpdir(), 'fst-pause-')), 'db.sqlite') })]
]

function recorder (name: string, definition: Record<string, unknown>) {
  const ran: string[] = []
  const task = defineTask({
    name,
    ...definition,
    handle (ctx: TaskContext) { ran.push(ctx.scheduledFor.toISOString().slice(11, 16)) }
  } as Parameters<typeof defineTask>[0])
  return { task, ran }
}

type App = Awaited<ReturnType<typeof buildApp>>
async function tickAt (app: App, text: string) {
  return await (await app.scheduler.tick(at(text))).settled
}

for (const [kind, makeStore] of stores) {
  t.test(`${kind}: a paused task runs nowhere until resumed; resume records what it held back as one skipped run`, async t => {
    const a = recorder('a', { runEveryMinute: true })
    const b = recorder('b', { runEveryMinute: true })
    const app = await buildApp({ tasks: [a.task, b.task], store: makeStore() })
    t.teardown(() => app.close())
    await tickAt(app, '2026-05-11 10:00')
    const answer = await app.scheduler.pause('a', { reason: 'partner API down', by: 'ops', now: at('2026-05-11 10:00:30') })
    t.same(answer, { task: 'a', paused: { since: '2026-05-11T10:00:30.000Z', reason: 'partner API down', by: 'ops', all: false } })
    const outcomes = await tickAt(app, '2026-05-11 10:01')
    t.match(outcomes.find(o => o.task === 'a'), { status: 'skipped', reason: 'paused' }, 'the tick says why a did not run')
    for (const minute of ['02', '03', '04']) await tickAt(app, `2026-05-11 10:${minute}`)
    t.same(a.ran, ['10:00'], 'a did not run while paused')
    t.same(b.ran, ['10:00', '10:01', '10:02', '10:03', '10:04'], 'b was not paused')

    const listing = await app.scheduler.list(at('2026-05-11 10:04:10'))
    t.same(listing.tasks.find(x => x.name === 'a')!.paused, { since: '2026-05-11T10:00:30.000Z', reason: 'partner API down', by: 'ops', all: false })
    t.equal(listing.tasks.find(x => x.name === 'b')!.paused, null)
    t.equal(listing.paused, null, 'everything is not paused')

    const resumed = await app.scheduler.resume('a', { now: at('2026-05-11 10:04:20') })
    t.same(resumed.skipped, [{ task: 'a', occurrences: 4, from: '2026-05-11T10:01:00.000Z', to: '2026-05-11T10:04:00.000Z' }])
    t.equal(resumed.resumed, true)
    t.same(resumed.runs, [])
    const { runs } = await app.scheduler.history({ task: ['a'], status: ['skipped'] })
    t.equal(runs.length, 1, 'one skipped record')
    t.equal(runs[0]!.error, 'paused: 4 occurrences from 2026-05-11T10:01:00.000Z to 2026-05-11T10:04:00.000Z')
    await tickAt(app, '2026-05-11 10:04:40')
    t.same(a.ran, ['10:00'], 'the held-back occurrences are not run')
    await tickAt(app, '2026-05-11 10:05')
    t.same(a.ran, ['10:00', '10:05'], 'the next occurrence runs')
    t.equal((await app.scheduler.resume('a')).resumed, false, 'resuming twice changes nothing')
  })

  t.test(`${kind}: resume with catchUp runs the latest occurrence held back once`, async t => {
    const a = recorder('a', { runEvery: '5 minutes' })
    const app = await buildApp({ tasks: [a.task], store: makeStore() })
    t.teardown(() => app.close())
    await tickAt(app, '2026-05-11 10:00')
    await app.scheduler.pause('a', { now: at('2026-05-11 10:01') })
    await tickAt(app, '2026-05-11 10:05')
    await tickAt(app, '2026-05-11 10:10')
    const resumed = await app.scheduler.resume('a', { catchUp: true, now: at('2026-05-11 10:12') })
    t.same(resumed.skipped, [{ task: 'a', occurrences: 1, from: '2026-05-11T10:05:00.000Z', to: '2026-05-11T10:05:00.000Z' }], 'the older one is skipped')
    t.match(resumed.runs, [{ task: 'a', status: 'started', scheduledFor: '2026-05-11T10:10:00.000Z' }], 'the latest runs now')
    await tickAt(app, '2026-05-11 10:13')
    t.same(a.ran, ['10:00', '10:10'], 'ran once')
  })

  t.test(`${kind}: pausing everything (maintenance) stops every task; tasks with their own pause stay paused`, async t => {
    const a = recorder('a', { runEveryMinute: true })
    const b = recorder('b', { runEveryMinute: true })
    const app = await buildApp({ tasks: [a.task, b.task], store: makeStore() })
    t.teardown(() => app.close())
    await app.scheduler.pause('b', { reason: 'own', now: at('2026-05-11 09:59') })
    const all = await app.scheduler.pause({ reason: 'migration', now: at('2026-05-11 09:59') })
    t.same(all, { task: null, paused: { since: '2026-05-11T09:59:00.000Z', reason: 'migration', by: null, all: true } })
    await tickAt(app, '2026-05-11 10:00')
    await tickAt(app, '2026-05-11 10:01')
    t.same([a.ran, b.ran], [[], []], 'nothing ran')
    const listing = await app.scheduler.list(at('2026-05-11 10:01'))
    t.match(listing.paused, { reason: 'migration', all: true })
    t.match(listing.tasks.find(x => x.name === 'a')!.paused, { reason: 'migration', all: true }, 'a is held by the pause of everything')
    t.match(listing.tasks.find(x => x.name === 'b')!.paused, { reason: 'own', all: false }, 'b by its own')
    const health = await app.scheduler.health()
    t.equal(health.paused, 2, 'health counts the paused tasks')
    t.equal(health.status, 'ok', 'a pause is not a fault')
    const resumed = await app.scheduler.resume({ now: at('2026-05-11 10:01:30') })
    t.same(resumed.skipped.map(s => s.task), ['a'], 'only a was freed')
    await tickAt(app, '2026-05-11 10:02')
    t.same([a.ran, b.ran], [['10:02'], []], 'a runs again; b keeps its own pause')
  })

  t.test(`${kind}: a retry due while paused waits for the resume`, async t => {
    let calls = 0
    const task = defineTask({ name: 'flaky', runAt: '10:00', retries: { attempts: 2, delay: '1 minute' }, handle () { calls++; if (calls === 1) throw new Error('boom') } })
    const app = await buildApp({ tasks: [task], store: makeStore() })
    t.teardown(() => app.close())
    await tickAt(app, '2026-05-11 10:00')
    await app.scheduler.pause('flaky', { now: at('2026-05-11 10:00:30') })
    await tickAt(app, '2026-05-11 10:01')
    await tickAt(app, '2026-05-11 10:02')
    t.equal(calls, 1, 'the retry did not run while paused')
    await app.scheduler.resume('flaky', { now: at('2026-05-11 10:02:30') })
    await tickAt(app, '2026-05-11 10:03')
    t.equal(calls, 2, 'the retry ran after the resume')
  })
}

t.test('unknown task names reject with UnknownTaskError naming them', async t => {
  const app = await buildApp({ tasks: [recorder('a', { runEveryMinute: true }).task] })
  t.teardown(() => app.close())
  await t.rejects(app.scheduler.pause('nope'), UnknownTaskError)
  await t.rejects(app.scheduler.resume('nope'), { message: 'unknown task "nope"' })
})

t.test('a long reason is cut to 500 characters; an empty one is none', async t => {
  const app = await buildApp({ tasks: [recorder('a', { runEveryMinute: true }).task] })
  t.teardown(() => app.close())
  t.equal((await app.scheduler.pause('a', { reason: 'x'.repeat(600) })).paused.reason!.length, 500)
  await app.scheduler.resume('a')
  t.equal((await app.scheduler.pause('a', { reason: '  ' })).paused.reason, null)
})

t.test('pauseOnFailure: after N failures in a row the task pauses itself; onPause and the heartbeat URL report it', async t => {
  const pings: Array<{ url: string, body: string }> = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', chunk => { body += String(chunk) })
    req.on('end', () => { pings.push({ url: req.url!, body }); res.end('ok') })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const port = (server.address() as AddressInfo).port
  let calls = 0
  const task = defineTask({
    name: 'partner',
    runEveryMinute: true,
    heartbeat: `http://127.0.0.1:${port}/hc`,
    handle () { calls++; throw new Error(`partner API answered 502 (#${calls})`) }
  })
  const app = await buildApp({ tasks: [task], pauseOnFailure: 2 })
  t.teardown(() => app.close())
  const paused: unknown[] = []
  app.scheduler.addHook('onPause', pause => { paused.push(pause) })
  await tickAt(app, '2026-05-11 10:00')
  t.same(paused, [], 'one failure does not pause')
  await tickAt(app, '2026-05-11 10:01')
  await waitFor(() => paused.length === 1 && pings.some(p => p.body.startsWith('paused:')))
  t.match(paused[0], { task: 'partner', by: 'pauseOnFailure', reason: 'pauseOnFailure: 2 failures in a row; last: partner API answered 502 (#2)' })
  t.match(pings.find(p => p.body.startsWith('paused:')), { url: '/hc/fail', body: /partner API answered 502 \(#2\)/ }, 'the heartbeat URL is told')
  await tickAt(app, '2026-05-11 10:02')
  t.equal(calls, 2, 'the task is paused: no third run')
  const listing = await app.scheduler.list()
  t.match(listing.tasks[0]!.paused, { by: 'pauseOnFailure', reason: /502 \(#2\)/ })
})

t.test('pauseOnFailure: false on the task wins over the plugin default; bad values fail the boot naming the option', async t => {
  let calls = 0
  const task = defineTask({ name: 'x', runEveryMinute: true, pauseOnFailure: false, handle () { calls++; throw new Error('no') } })
  const app = await buildApp({ tasks: [task], pauseOnFailure: 1 })
  t.teardown(() => app.close())
  await tickAt(app, '2026-05-11 10:00')
  await tickAt(app, '2026-05-11 10:01')
  t.equal(calls, 2, 'never paused')
  await t.rejects(buildApp({ pauseOnFailure: 0 }), { message: /pauseOnFailure: expected a whole number/ })
  await t.rejects(buildApp({ tasks: [defineTask({ name: 'y', runEveryMinute: true, pauseOnFailure: 1.5 as number, handle () {} })] }),
    { message: /pauseOnFailure: expected a whole number of failures in a row from 1 to 10000, or false, got 1\.5/ })
})

/** Poll until `condition` holds (it needs a real HTTP round trip), for at most 15 s on a loaded machine. */
async function waitFor (condition: () => boolean): Promise<void> {
  for (let i = 0; i < 1500 && !condition(); i++) await new Promise(resolve => setTimeout(resolve, 10))
}
