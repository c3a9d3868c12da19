/**
 * Each run's output (docs/RUN-OUTPUT.md): what a task logs through ctx.log is kept with its
 * record — in order, bounded, redacted as the app's logger redacts — shown in the listing and
 * the history, and sent as the body of the heartbeat URL's /fail ping (a local server here).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import t from 'tap'
import fastifyScheduler from '../../plugin.js'
import { memoryStore } from '../../plugin/stores/memory.js'
import { RunOutput } from '../../plugin/run-output.js'
import type { SchedulerOptions } from '../../plugin/types.js'
import { defineTask } from '../../tasks/task.js'
import { at, buildApp } from '../helpers/app.js'

/** An app whose pino logger has redact paths, writing its lines into `lines`. */
async function loggedApp (options: SchedulerOptions) {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _enc, done) { lines.push(String(chunk)); done() } })
  const app = Fastify({ logger: { level: 'info', redact: ['apiKey', 'user.password'], stream } })
  await app.register(fastifyScheduler, { dir: false, store: memoryStore(), timezone: 'UTC', routes: false, ...options })
  await app.ready()
  return { app, lines }
}

t.test('lines are kept in order, with level, message and fields; the runner\'s own lines are not', async t => {
  const { app } = await loggedApp({
    tasks: [defineTask({
      name: 'import',
      runEveryMinute: true,
      handle ({ log }) {
        log.info('fetched %d rows', 42)
        log.warn({ file: 'a.xml' }, 'skipped a file')
        log.child({ step: 'save' }).error('could not save')
        log.debug('not kept: the logger is at info')
      }
    })]
  })
  t.teardown(() => app.close())
  await (await app.scheduler.tick(at('2026-05-11 10:00'))).settled
  const [run] = (await app.scheduler.history()).runs
  const lines = run!.output!.split('\n')
  t.equal(lines.length, 3, 'three lines')
  t.match(lines[0], /^2026-\d\d-\d\dT[\d:.]+Z INFO fetched 42 rows$/)
  t.match(lines[1], /WARN skipped a file \{"file":"a.xml"\}$/)
  t.match(lines[2], /ERROR could not save$/, 'a child logger of ctx.log is captured too')
  const listing = await app.scheduler.list({ now: at('2026-05-11 10:01'), recent: 1 })
  t.equal(listing.tasks[0]!.recent[0]!.output, run!.output, 'the listing\'s recent runs carry it')
})

t.test('bounded: the last lines up to maxBytes, saying how many were dropped', async t => {
  const app = await buildApp({
    runOutput: { maxBytes: 300 },
    tasks: [defineTask({ name: 'chatty', runEveryMinute: true, handle ({ log }) { for (let i = 1; i <= 100; i++) log.info(`line ${i}`) } })]
  })
  t.teardown(() => app.close())
  await (await app.scheduler.tick(at('2026-05-11 10:00'))).settled
  const output = (await app.scheduler.history()).runs[0]!.output!
  t.ok(Buffer.byteLength(output) <= 300, `at most 300 bytes (${Buffer.byteLength(output)})`)
  const lines = output.split('\n')
  t.match(lines[0], /^… (\d+) earlier lines dropped$/)
  const dropped = Number(/(\d+)/.exec(lines[0]!)![1])
  t.equal(dropped + lines.length - 1, 100, 'dropped + kept = all')
  t.match(lines[lines.length - 1], /INFO line 100$/, 'the last line is kept')
  t.match(lines[1], new RegExp(`INFO line ${dropped + 1}$`), 'kept lines follow on, in order')

  const one = new RunOutput(256)
  one.push('x'.repeat(1000))
  t.ok(Buffer.byteLength(one.text()!) <= 256, 'one huge line is cut to the bound')
})

t.test('redacted as the app\'s logger redacts, and credentials never kept', async t => {
  const { app, lines: appLines } = await loggedApp({
    tasks: [defineTask({
      name: 'call',
      runEveryMinute: true,
      handle ({ log }) {
        log.info({ apiKey: 'sk-live-123', user: { name: 'ann', password: 'hunter2' }, headers: { authorization: 'Bearer tok-456' } }, 'calling https://api.example/x?token=qs-789&page=2')
        log.error(new Error('refused by https://api.example/x?token=qs-789'))
      }
    })]
  })
  t.teardown(() => app.close())
  await (await app.scheduler.tick(at('2026-05-11 10:00'))).settled
  const output = (await app.scheduler.history()).runs[0]!.output!
  for (const secret of ['sk-live-123', 'hunter2', 'tok-456', 'qs-789']) t.notOk(output.includes(secret), `${secret} not in the output`)
  t.match(output, /"apiKey":"\[Redacted\]"/, 'the app\'s redact path apiKey')
  t.match(output, /"user":\{"name":"ann","password":"\[Redacted\]"\}/, 'the app\'s redact path user.password, the rest kept')
  t.match(output, /"authorization":"\[Redacted\]"/, 'credentials censored by key')
  t.match(output, /token=\[Redacted\]&page=2/, 'a token in a URL censored, the rest kept')
  t.match(output, /ERROR refused by/, 'an Error logged alone keeps its message')
  t.ok(appLines.some(line => line.includes('"apiKey":"[Redacted]"')), 'the app\'s own log line is redacted the same way')
})

t.test('runOutput: false keeps nothing; bad values fail the boot naming the option', async t => {
  const app = await buildApp({ runOutput: false, tasks: [defineTask({ name: 'quiet', runEveryMinute: true, handle ({ log }) { log.info('hello') } })] })
  t.teardown(() => app.close())
  await (await app.scheduler.tick(at('2026-05-11 10:00'))).settled
  t.notOk('output' in (await app.scheduler.history()).runs[0]!, 'no output field')
  for (const [value, message] of [
    [true, /runOutput: must be false, or \{ maxBytes \}/],
    [{ maxBytes: 10 }, /runOutput\.maxBytes: must be an integer from 256 to 1048576 \(got 10\)/],
    [{ maxbytes: 1000 }, /runOutput: unknown key "maxbytes"/]
  ] as const) {
    await t.rejects(buildApp({ runOutput: value as never }), { code: 'FST_SCHEDULER_INVALID_OPTION', message }, JSON.stringify(value))
  }
})

t.test('the heartbeat /fail ping carries the error and the output', async t => {
  const hits: Array<{ path: string, body: string }> = []
  const server: Server = createServer((request: IncomingMessage, response) => {
    let body = ''
    request.setEncoding('utf8').on('data', chunk => { body += chunk }).on('end', () => { hits.push({ path: request.url!, body }); response.end('OK') })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) }))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ping/abc`
  const app = await buildApp({
    tasks: [defineTask({
      name: 'backup',
      runEveryMinute: true,
      heartbeat: base,
      handle ({ log }) {
        log.info('dumping 3 tables')
        log.warn({ table: 'orders' }, 'slow table')
        throw new Error('disk full')
      }
    })]
  })
  await (await app.scheduler.tick(at('2026-05-11 10:00'))).settled
  await app.close() // waits for the notifications
  const fail = hits.filter(hit => hit.path === '/ping/abc/fail')
  t.equal(fail.length, 1, 'one /fail ping')
  const body = fail[0]!.body.split('\n')
  t.equal(body[0], 'disk full', 'the error first')
  t.equal(body[1], '', 'a blank line')
  t.match(body[2], /INFO dumping 3 tables$/, 'then the output, in order')
  t.match(body[3], /WARN slow table \{"table":"orders"\}$/)
})
