/**
 * Task discovery (docs/ARCHITECTURE.md#tasks): one fixture folder per case under test/fixtures/discovery/.
 * Every bad file fails the boot with an error naming the file.
 */
import t from 'tap'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import fastifyScheduler from '../../plugin.js'
import { memoryStore } from '../../plugin/stores/memory.js'
import { findTaskFiles, locationIn } from '../../plugin/discover.js'
import { defineTask } from '../../tasks/task.js'
import { at } from '../helpers/app.js'

const fixtures = fileURLToPath(new URL('../fixtures/discovery/', import.meta.url))
const fixture = (name: string): string => join(fixtures, name)
const shown = (name: string, file: string): string => relative(process.cwd(), join(fixture(name), file))

async function boot (dir: string) {
  const app = Fastify({ logger: false })
  app.decorate('said', [] as string[])
  await app.register(fastifyScheduler, { dir, store: memoryStore(), timezone: 'UTC', routes: false })
  await app.ready()
  return app
}

function escape (text: string): RegExp {
  return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
}

t.test('a TypeScript class task: named from its file in kebab-case, constructed with the app', async t => {
  const app = await boot(fixture('ts-class'))
  t.teardown(() => app.close())
  t.same(app.scheduler.taskNames, ['say-hi'])
  const listing = await app.scheduler.list(at('2026-05-11 12:00'))
  t.equal(listing.tasks[0].schedule, 'every 3 days at 17:00 (UTC)')
  t.equal(listing.tasks[0].source, shown('ts-class', 'SayHi.ts'))
  await app.scheduler.run('say-hi', { force: true })
  t.same((app as unknown as { said: string[] }).said, ['hi from say-hi'])
})

t.test('JavaScript object tasks, ESM and CommonJS', async t => {
  const app = await boot(fixture('js-object'))
  t.teardown(() => app.close())
  t.same(app.scheduler.taskNames, ['legacy-cjs', 'prune-sessions'])
  await (await app.scheduler.tick(at('2026-05-11 12:00'))).settled
  t.same((app as unknown as { said: string[] }).said.sort(), ['legacy', 'pruned'])
})

t.test('nested folders are searched', async t => {
  const app = await boot(fixture('nested'))
  t.teardown(() => app.close())
  t.same(app.scheduler.taskNames, ['send-report', 'top'])
})

t.test('declarations, tests, _helpers, hidden files and non-code files are ignored', async t => {
  const app = await boot(fixture('ignored'))
  t.teardown(() => app.close())
  t.same(app.scheduler.taskNames, ['real-task'])
})

t.test('files are found in a stable, sorted order whatever their extension', async t => {
  const files = findTaskFiles(fixture('mixed')).map(file => relative(fixture('mixed'), file))
  t.same(files, ['a-task.js', 'b-task.ts', 'c-task.mjs'])
})

t.test('two tasks with one name fail the boot, naming both files', async t => {
  await t.rejects(boot(fixture('duplicate')), {
    code: 'FST_SCHEDULER_DUPLICATE_TASK',
    message: escape(`two tasks are named "report": ${shown('duplicate', 'first.ts')} and ${shown('duplicate', 'second.ts')}`)
  })
})

t.test('a syntax error fails the boot, naming the file, line and column', async t => {
  // broken.js line 3 is `  handle () { return 1 +* 2 }`: the `*` is column 25.
  await t.rejects(boot(fixture('syntax-error')), {
    code: 'FST_SCHEDULER_INVALID_TASK',
    message: escape(`${shown('syntax-error', 'broken.js')}:3:25: could not be loaded: SyntaxError: Unexpected token '*'`)
  })
})

t.test('a syntax error in a CommonJS task file: line and column from the cause\'s stack', async t => {
  await t.rejects(boot(fixture('syntax-error-cjs')), {
    code: 'FST_SCHEDULER_INVALID_TASK',
    message: escape(`${shown('syntax-error-cjs', 'broken.cjs')}:2:38: could not be loaded: SyntaxError: Unexpected token ')'`)
  })
})

t.test('an error thrown while a task file loads names the line it was thrown at', async t => {
  await t.rejects(boot(fixture('throws-on-load')), {
    code: 'FST_SCHEDULER_INVALID_TASK',
    message: escape(`${shown('throws-on-load', 'config.mjs')}:2:17: could not be loaded: REPORT_URL is not set`)
  })
})

t.test('locations in the texts Node and esbuild write', async t => {
  const file = '/app/tasks/x.js'
  t.same(locationIn(file, `${file}:3\n  handle () { return 1 +* 2 }\n                        ^\n\nSyntaxError: Unexpected token '*'`), { line: 3, column: 25 })
  t.same(locationIn(file, 'Error: boom\n    at file:///app/tasks/x.js:7:11\n    at async ModuleJob.run'), { line: 7, column: 11 })
  t.same(locationIn(file, `Transform failed with 1 error:\n${file}:4:9: ERROR: Expected ";" but found "b"`), { line: 4, column: 9 })
  t.same(locationIn(file, `${file}:12\nno caret here`), { line: 12 })
  t.equal(locationIn(file, 'SyntaxError: Unexpected token\n    at compileSourceTextModule (node:internal/modules/esm/utils:346:16)'), undefined)
  t.equal(locationIn(file, '/app/tasks/x.json:3:1'), undefined, 'another file is not this one')
})

t.test('a file without a default export fails the boot', async t => {
  await t.rejects(boot(fixture('no-default')), {
    code: 'FST_SCHEDULER_INVALID_TASK',
    message: escape(`${shown('no-default', 'named.ts')}: no default export`)
  })
})

t.test('a default export that is not a task fails the boot', async t => {
  await t.rejects(boot(fixture('not-a-task')), {
    message: escape(`${shown('not-a-task', 'config.ts')}: the default export is not a task`)
  })
})

t.test('a schedule that does not parse fails the boot, naming file, property and what is accepted', async t => {
  await t.rejects(boot(fixture('bad-schedule')), {
    message: /bad-schedule[/\\]weekly\.js.*runEvery.*dayz.*minute\(s\), hour\(s\), day\(s\), month\(s\)/s
  })
})

t.test('an unknown property fails the boot with a suggestion', async t => {
  await t.rejects(boot(fixture('unknown-property')), {
    message: /unknown-property[/\\]typo\.js.*"run_every".*did you mean "runEvery"\?/s
  })
})

t.test('a named tasks folder that does not exist fails the boot; the default one is optional', async t => {
  await t.rejects(boot(fixture('no-such-folder')), { code: 'FST_SCHEDULER_INVALID_OPTION', message: /dir: the tasks folder .*no-such-folder does not exist/ })
  const app = Fastify({ logger: false })
  // The default `tasks` folder resolves against the working directory; from test/ none exists.
  const cwd = process.cwd()
  process.chdir(fixtures)
  try {
    await app.register(fastifyScheduler, { store: memoryStore(), routes: false })
    await app.ready()
    t.same(app.scheduler.taskNames, [])
  } finally {
    process.chdir(cwd)
    await app.close()
  }
})

t.test('a task can use a decorator registered after the scheduler plugin', async t => {
  const sent: string[] = []
  const app = Fastify({ logger: false })
  await app.register(fastifyScheduler, {
    dir: false,
    store: memoryStore(),
    timezone: 'UTC',
    routes: false,
    tasks: [defineTask({
      name: 'digest',
      runAt: '17:00',
      async handle ({ app }) { await (app as unknown as { pager: { send (to: string): Promise<void> } }).pager.send('ops@example.com') }
    })]
  })
  app.decorate('pager', { async send (to: string) { sent.push(to) } })
  await app.ready()
  t.teardown(() => app.close())
  await app.scheduler.tick(at('2026-05-11 16:00'))
  const [outcome] = await (await app.scheduler.tick(at('2026-05-11 17:00'))).settled
  t.equal(outcome.status, 'succeeded')
  t.same(sent, ['ops@example.com'])
})

t.test('add() registers tasks before ready and refuses after', async t => {
  const app = Fastify({ logger: false })
  await app.register(fastifyScheduler, { dir: false, store: memoryStore(), timezone: 'UTC', routes: false })
  app.scheduler.add(defineTask({ name: 'late-bloomer', runEveryMinute: true, handle () {} }))
  await app.ready()
  t.teardown(() => app.close())
  t.same(app.scheduler.taskNames, ['late-bloomer'])
  t.throws(() => app.scheduler.add(defineTask({ name: 'too-late', runEveryMinute: true, handle () {} })), { code: 'FST_SCHEDULER_TOO_LATE' })
})
