/**
 * `fastify-scheduler make:task`, spawned for real in a throwaway project whose
 * `node_modules/fastify-scheduler` points at this repository's sources: the written file
 * imports 'fastify-scheduler' exactly as a user's would, and must load and run as is.
 */
import t, { type Test } from 'tap'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { taskNames } from '../../cli/make-task.js'
import { REPO, runCli } from '../helpers/cli.js'

/** A project with an app that discovers tasks in `$TASKS_DIR` (default tasks/), memory store. */
function project (t: Test, type: 'module' | 'commonjs' = 'module'): string {
  const dir = mkdtempSync(join(tmpdir(), 'make-task-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'made', private: true, type }))
  const shim = join(dir, 'node_modules', 'fastify-scheduler')
  mkdirSync(shim, { recursive: true })
  writeFileSync(join(shim, 'package.json'), JSON.stringify({ name: 'fastify-scheduler', type: 'module', exports: './index.ts' }))
  const root = pathToFileURL(join(REPO, 'index.ts')).href
  writeFileSync(join(shim, 'index.ts'), `export * from '${root}'\nexport { default } from '${root}'\n`)
  writeFileSync(join(dir, 'app.ts'), `import { join } from 'node:path'
import fastifyScheduler, { memoryStore } from 'fastify-scheduler'
export default async function app (fastify: any) {
  await fastify.register(fastifyScheduler, {
    dir: join(import.meta.dirname, process.env.TASKS_DIR ?? 'tasks'), store: memoryStore(), routes: false
  })
}
`)
  return dir
}

t.test('make:task SayHi writes tasks/say-hi.ts, which boots and runs as is', async t => {
  const cwd = project(t)
  const made = await runCli(['make:task', 'SayHi'], { cwd })
  t.equal(made.code, 0, made.stderr)
  t.equal(made.stdout, 'created tasks/say-hi.ts: task "say-hi" (class SayHi), runs every minute\n')
  const source = readFileSync(join(cwd, 'tasks', 'say-hi.ts'), 'utf8')
  t.match(source, /import \{ Task, type TaskContext \} from 'fastify-scheduler'/)
  t.match(source, /export default class SayHi extends Task \{\n {2}runEveryMinute = true\n/)
  t.match(source, /constructor \(readonly app: FastifyInstance\)/)

  const run = await runCli(['run', '--app', 'app.ts', '--verbose'], { cwd })
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, /^say-hi\s+succeeded\s/m)
  t.match(run.stderr, /"msg":"say-hi ran"/)
})

t.test('refuses to overwrite without --force, naming the file; --force overwrites', async t => {
  const cwd = project(t)
  t.equal((await runCli(['make:task', 'say-hi'], { cwd })).code, 0)
  const file = join(cwd, 'tasks', 'say-hi.ts')
  writeFileSync(file, '// edited by hand\n')

  const again = await runCli(['make:task', 'SayHi'], { cwd })
  t.equal(again.code, 2)
  t.match(again.stderr, /make:task: tasks\/say-hi\.ts already exists; pass --force to overwrite it/)
  t.equal(readFileSync(file, 'utf8'), '// edited by hand\n', 'the file is untouched')

  const forced = await runCli(['make:task', 'SayHi', '--force'], { cwd })
  t.equal(forced.code, 0, forced.stderr)
  t.match(readFileSync(file, 'utf8'), /class SayHi extends Task/)

  const sibling = await runCli(['make:task', 'SayHi', '--js'], { cwd })
  t.equal(sibling.code, 2, 'a say-hi.js beside say-hi.ts would be a second task "say-hi"')
  t.match(sibling.stderr, /tasks\/say-hi\.ts already defines the task "say-hi"/)
})

t.test('names: PascalCase, camelCase, kebab and snake are accepted; anything else is refused', async t => {
  t.same(taskNames('SayHi'), { kebab: 'say-hi', className: 'SayHi' })
  t.same(taskNames('say-hi'), { kebab: 'say-hi', className: 'SayHi' })
  t.same(taskNames('sendDigest'), { kebab: 'send-digest', className: 'SendDigest' })
  t.same(taskNames('import_XML2'), { kebab: 'import-xml2', className: 'ImportXml2' })
  t.same(taskNames('ImportXML'), { kebab: 'import-xml', className: 'ImportXML' })
  for (const name of ['say hi', '1up', '../escape', 'say--hi', 'x-', 'naïve', 'a/b', '', 'x'.repeat(65)]) {
    t.throws(() => taskNames(name), { exitCode: 2, message: `"${name}" is not a task name. Use PascalCase, camelCase or kebab-case` }, name)
  }
})

t.test('the real command rejects a non-identifier name with exit 2, writing nothing', async t => {
  const cwd = project(t)
  const result = await runCli(['make:task', '../escape'], { cwd })
  t.equal(result.code, 2)
  t.match(result.stderr, /make:task: "\.\.\/escape" is not a task name\. Use PascalCase, camelCase or kebab-case/)
  const none = await runCli(['make:task'], { cwd })
  t.equal(none.code, 2)
  t.match(none.stderr, /make:task: expected one NAME, got none/)
  t.notOk(existsSync(join(cwd, 'tasks')), 'nothing was written')
})

t.test('--js writes an ES module in a "type": "module" project; --dir creates the folder', async t => {
  const cwd = project(t)
  const made = await runCli(['make:task', 'sendDigest', '--js', '--dir', 'jobs/nightly'], { cwd })
  t.equal(made.code, 0, made.stderr)
  t.same(readdirSync(join(cwd, 'jobs', 'nightly')), ['send-digest.js'])
  const source = readFileSync(join(cwd, 'jobs', 'nightly', 'send-digest.js'), 'utf8')
  t.match(source, /^import \{ Task \} from 'fastify-scheduler'\n/)
  t.match(source, /export default class SendDigest extends Task/)

  const run = await runCli(['run', '--app', 'app.ts', '--json'], { cwd, env: { TASKS_DIR: 'jobs/nightly' } })
  t.equal(run.code, 0, run.stderr)
  t.same((JSON.parse(run.stdout) as { runs: Array<{ task: string, status: string }> }).runs.map(run => [run.task, run.status]),
    [['send-digest', 'succeeded']])
})

t.test('--js writes CommonJS in a project without "type": "module"', async t => {
  const cwd = project(t, 'commonjs')
  const made = await runCli(['make:task', 'Hello', '--js'], { cwd })
  t.equal(made.code, 0, made.stderr)
  const source = readFileSync(join(cwd, 'tasks', 'hello.js'), 'utf8')
  t.match(source, /^'use strict'\n\nconst \{ Task \} = require\('fastify-scheduler'\)\n/)
  t.match(source, /module\.exports = class Hello extends Task/)
})
