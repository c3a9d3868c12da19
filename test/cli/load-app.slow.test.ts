/**
 * How the CLI finds and boots an app (docs/ARCHITECTURE.md#the-cli): a default-exported plugin or a build()
 * function, .ts apps with no flags, a documented search order, and an error naming the file
 * (exit 3) for every way an app can be wrong.
 */
import t from 'tap'
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { SchedulerListing } from '../../plugin/types.js'
import { EXIT } from '../../cli/common.js'
import { loadApp, type LoadAppOptions } from '../../cli/load-app.js'
import { CLI_APP, compileCli, REPO, runCli } from '../helpers/cli.js'

const fixture = (name: string): string => join('test', 'fixtures', 'cli-app', name)

t.test('a .ts app loads without extra flags: plain node runs the compiled CLI', async t => {
  const { entry, remove } = await compileCli()
  t.teardown(remove)
  const result = await runCli(['list', '--app', fixture('app.ts'), '--json'], { node: [], entry })
  t.equal(result.code, 0, result.stderr)
  const listing = JSON.parse(result.stdout) as SchedulerListing
  t.same(listing.tasks.map(task => task.name), ['ok', 'boom', 'manual'])

  const run = await runCli(['run', '--app', fixture('app.ts'), '--task', 'ok'], { node: [], entry })
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, /^ok\s+succeeded/m)
})

t.test('a module exporting build() is used as is', async t => {
  const result = await runCli(['run', '--app', fixture('build.mjs'), '--json'])
  t.equal(result.code, 0, result.stderr)
  t.same((JSON.parse(result.stdout) as { runs: Array<{ task: string, status: string }> }).runs.map(run => [run.task, run.status]),
    [['built', 'succeeded']])
})

t.test('without --app, the folder is searched: app.ts before src/app.mjs; --app may name a folder', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-search-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'src'))
  const root = pathToFileURL(join(REPO, 'index.ts')).href
  writeFileSync(join(dir, 'src', 'app.mjs'), `import fastifyScheduler, { defineTask, memoryStore } from '${root}'
export default async function app (fastify) {
  await fastify.register(fastifyScheduler, {
    dir: false, routes: false, store: memoryStore(),
    tasks: [defineTask({ name: 'from-src', runEveryMinute: true, handle () {} })]
  })
}
`)
  const fromSrc = await runCli(['list', '--json'], { cwd: dir })
  t.equal(fromSrc.code, 0, fromSrc.stderr)
  t.same((JSON.parse(fromSrc.stdout) as SchedulerListing).tasks.map(task => task.name), ['from-src'])

  cpSync(CLI_APP, join(dir, 'app.ts'))
  const rewritten = join(dir, 'app.ts')
  writeFileSync(rewritten, (await import('node:fs')).readFileSync(rewritten, 'utf8').replaceAll('../../../index.js', root))
  const fromRoot = await runCli(['list', '--json'], { cwd: dir })
  t.equal(fromRoot.code, 0, fromRoot.stderr)
  t.same((JSON.parse(fromRoot.stdout) as SchedulerListing).tasks.map(task => task.name), ['ok', 'boom', 'manual'])

  const folder = await runCli(['list', '--json', '--app', 'src'], { cwd: dir })
  t.equal(folder.code, 0, folder.stderr)
  t.same((JSON.parse(folder.stdout) as SchedulerListing).tasks.map(task => task.name), ['from-src'])
})

t.test('a broken app exits 3 from the real command, naming the file', async t => {
  const result = await runCli(['run', '--app', fixture('bad-task.mjs')])
  t.equal(result.code, 3)
  t.match(result.stderr, /^fastify-scheduler: test\/fixtures\/cli-app\/bad-task\.mjs: the app failed to boot: .*run_every.*runEvery/)
  t.equal(result.stdout, '', 'nothing on stdout')
})

t.test('every way an app can be wrong is a CliError with exit code 3 naming the file', async t => {
  const empty = mkdtempSync(join(tmpdir(), 'cli-empty-'))
  t.teardown(() => rmSync(empty, { recursive: true, force: true }))
  const cases: Array<[LoadAppOptions, RegExp]> = [
    [{ cwd: empty }, /^no app found in .*cli-empty-\w+: looked for app\.ts, app\.mts, .*src\/app\.ts.*\. Pass --app PATH/],
    [{ app: 'missing.ts', cwd: REPO }, /^--app missing\.ts: no such file \(.*missing\.ts\)/],
    [{ app: 'test', cwd: REPO }, /^--app test: the folder .*test has none of app\.ts, /],
    [{ app: fixture('bad-import.mjs'), cwd: REPO }, /bad-import\.mjs: could not be loaded: this module cannot be imported/],
    [{ app: fixture('not-an-app.mjs'), cwd: REPO }, /not-an-app\.mjs: exports neither a default Fastify plugin nor a build\(\) \/ buildApp\(\) function \(default export: a number\)/],
    [{ app: fixture('build-not-fastify.mjs'), cwd: REPO }, /build-not-fastify\.mjs: build\(\) did not return a Fastify instance \(it returned an object\)/],
    [{ app: fixture('no-scheduler.mjs'), cwd: REPO }, /no-scheduler\.mjs: the app booted, but app\.scheduler is missing/],
    [{ app: fixture('encapsulated.mjs'), cwd: REPO }, /encapsulated\.mjs: the app booted, but app\.scheduler is missing/],
    [{ app: fixture('bad-task.mjs'), cwd: REPO }, /bad-task\.mjs: the app failed to boot: .*run_every.*runEvery/]
  ]
  for (const [options, message] of cases) {
    await t.rejects(loadApp(options), { name: 'CliError', exitCode: EXIT.app, message }, String(options.app ?? options.cwd))
  }
})
