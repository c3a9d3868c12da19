/**
 * The README's pinger and serverless recipes, verbatim, as .ci/package-test runs its Usage
 * blocks: each fenced block after a `<!-- recipe:FILE -->` marker is written to a folder of
 * its own (under tmp/, git-ignored), with only its `'fastify-scheduler'` import pointed at
 * this checkout (package-test points it at the tarball), then imported, registered and
 * driven over HTTP: inject, and a real socket for the Basic URL form. The Vercel recipe runs
 * on a PostgreSQL database of its own, created and dropped here.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { get } from 'node:http'
import { join, relative } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import pg from 'pg'
import t, { type Test } from 'tap'
import { needs, postgresUrl, probePostgres, uniqueName } from '../helpers/services.js'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const README = readFileSync(join(REPO, 'README.md'), 'utf8')
const TOKEN = 'recipe-token-0123456789abcdef'
const at = (text: string): Date => new Date(`${text}Z`)

/** The README's recipe blocks by file name. */
const recipes = new Map([...README.matchAll(/<!-- recipe:(\S+) -->\n```[a-z]*\n([\s\S]*?)\n```\n/g)].map(m => [m[1]!, m[2]!]))

/** A folder under tmp/ (inside the repo, so the recipe resolves fastify from node_modules), removed at the end. */
function folder (label: string): string {
  const dir = join(REPO, 'tmp', uniqueName(`recipe-${label}`))
  mkdirSync(join(dir, 'tasks'), { recursive: true })
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Write the recipe into `dir`, its package import pointed at this checkout, and import its default export. */
async function recipe (name: string, dir: string): Promise<FastifyPluginAsync> {
  const text = recipes.get(name)
  if (text === undefined) throw new Error(`README.md has no <!-- recipe:${name} --> block`)
  const index = relative(dir, join(REPO, 'index.js'))
  writeFileSync(join(dir, name), text.replace(/from 'fastify-scheduler'/g, `from '${index}'`))
  return ((await import(pathToFileURL(join(dir, name)).href)) as { default: FastifyPluginAsync }).default
}

/** A task file in the recipe's folder, as the user would write it. */
function taskFile (dir: string, name: string, body: string): void {
  writeFileSync(join(dir, 'tasks', `${name}.ts`), `import { defineTask } from '${relative(join(dir, 'tasks'), join(REPO, 'index.js'))}'\n${body}\n`)
}

/** Boot the recipe as server.ts does (fastify-plugin, so app.scheduler is on the server), in `dir` as the working directory. */
async function boot (plugin: FastifyPluginAsync, dir: string): Promise<FastifyInstance> {
  const cwd = process.cwd()
  process.chdir(dir) // the default store and tasks folder are the working directory's
  try {
    const app = Fastify({ logger: false })
    await app.register(fp(plugin))
    await app.ready()
    return app
  } finally {
    process.chdir(cwd)
  }
}

const EVERY_MINUTE = 'export default defineTask({ runEveryMinute: true, handle () {} })'

/**
 * The pinger recipe `name` booted in a folder of its own with `SCHEDULE_TOKEN` set, and with
 * the task files given (name → source); closed, and the variable removed, when `t` ends.
 */
async function bootWithToken (t: Test, name: string, label: string, tasks: Record<string, string> = {}): Promise<FastifyInstance> {
  process.env.SCHEDULE_TOKEN = TOKEN
  t.teardown(() => { delete process.env.SCHEDULE_TOKEN })
  const dir = folder(label)
  for (const [task, body] of Object.entries(tasks)) taskFile(dir, task, body)
  const app = await boot(await recipe(name, dir), dir)
  t.teardown(() => app.close())
  return app
}

t.test('every recipe the README names is there', async t => {
  t.same([...recipes.keys()].sort(), ['pinger-basic.ts', 'pinger.ts', 'serverless.ts'])
})

t.test('pinger.ts: GET ticks with the header or ?token=, HEAD never does', async t => {
  const app = await bootWithToken(t, 'pinger.ts', 'pinger', { 'every-minute': EVERY_MINUTE })
  t.equal(app.scheduler.store.kind, 'sqlite', 'the default store, in the working directory')

  const header = await app.inject({ method: 'GET', url: '/_schedule/run', headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(header.statusCode, 200, header.body)
  const query = await app.inject({ method: 'GET', url: `/_schedule/run?token=${TOKEN}` })
  t.equal(query.statusCode, 200, query.body)
  t.equal((await app.inject({ method: 'GET', url: '/_schedule/run?token=not-the-token-0123456789' })).statusCode, 401)
  const head = await app.inject({ method: 'HEAD', url: `/_schedule/run?token=${TOKEN}` })
  t.equal(head.statusCode, 405, 'a HEAD monitor never ticks')
  t.equal(head.body, '', 'and HEAD shows no body saying why: hence GET')
})

t.test('pinger.ts: a 5-minute monitor runs an every-minute task once per tick, for the latest minute, recorded; the minutes between coalesce', async t => {
  const app = await bootWithToken(t, 'pinger.ts', 'five-minutes', { 'every-minute': EVERY_MINUTE })
  await (await app.scheduler.tick(at('2030-01-01T12:00:10'))).settled // the first tick runs its own minute
  for (const minute of ['05', '10']) {
    const { settled } = await app.scheduler.tick(at(`2030-01-01T12:${minute}:10`))
    t.same((await settled).map(run => [run.status, new Date(run.scheduledFor).toISOString()]), [['succeeded', `2030-01-01T12:${minute}:00.000Z`]],
      `the tick at 12:${minute} runs the 12:${minute} occurrence only`)
  }
  const history = await app.scheduler.history({ task: ['every-minute'], limit: 50 })
  t.same(history.runs.map(run => [run.status, new Date(run.scheduledFor).toISOString().slice(11, 16)]).sort(),
    [['succeeded', '12:00'], ['succeeded', '12:05'], ['succeeded', '12:10']], 'the history records the latest minute of each tick; the minutes between coalesced into it')
})

t.test('pinger-basic.ts: the token as the Basic password, in the URL form monitors take', async t => {
  const app = await bootWithToken(t, 'pinger-basic.ts', 'basic')
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const status = (url: string) => new Promise<number>((resolve, reject) => {
    get(new URL(url), res => { res.resume(); resolve(res.statusCode ?? 0) }).on('error', reject)
  })
  t.equal(await status(`http://user:${TOKEN}@127.0.0.1:${port}/_schedule/run`), 200, 'https://user:<token>@host/_schedule/run ticks')
  t.equal(await status(`http://user:not-the-token-0123456789@127.0.0.1:${port}/_schedule/run`), 401)
})

const postgresProblem = await probePostgres()

t.test('serverless.ts: PostgreSQL store, imported tasks, the vercel.json path with Bearer $CRON_SECRET waits for the runs', needs(postgresProblem), async t => {
  // A database of its own: the recipe uses the store's default schema and tables.
  const admin = new pg.Client({ connectionString: postgresUrl() })
  await admin.connect()
  const database = uniqueName('recipe')
  await admin.query(`CREATE DATABASE ${database}`)
  t.teardown(async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
    await admin.end()
  })
  const url = new URL(postgresUrl())
  url.pathname = `/${database}`
  process.env.DATABASE_URL = url.href
  process.env.CRON_SECRET = 'cron-secret-0123456789abcdef'
  t.teardown(() => { delete process.env.DATABASE_URL; delete process.env.CRON_SECRET })

  const dir = folder('serverless')
  taskFile(dir, 'prune', `export default defineTask({
  name: 'prune',
  runEveryMinute: true,
  async handle () { await new Promise(resolve => setTimeout(resolve, 200)) }
})`)
  const app = await boot(await recipe('serverless.ts', dir), dir)
  t.teardown(() => app.close())
  t.equal(app.scheduler.store.kind, 'postgres')
  t.same(app.scheduler.taskNames, ['prune'], 'the imported task, nothing discovered')

  const vercel = /`vercel\.json` `(\{.*?\})`/.exec(README)?.[1]
  const path = (JSON.parse(vercel ?? '{}') as { crons?: Array<{ path: string, schedule: string }> }).crons?.[0]
  t.same(path, { path: '/_schedule/run?wait=true', schedule: '* * * * *' }, 'vercel.json as the README gives it')
  const headers = { authorization: `Bearer ${process.env.CRON_SECRET}` }
  const tick = await app.inject({ method: 'GET', url: path?.path ?? '', headers })
  t.equal(tick.statusCode, 200, tick.body)
  t.equal((await app.inject({ method: 'GET', url: path?.path ?? '' })).statusCode, 401, 'nothing without CRON_SECRET')
  const forced = await app.inject({ method: 'GET', url: `${path?.path ?? ''}&task=prune&force=true`, headers })
  t.equal(forced.statusCode, 200, 'wait=true: the answer comes when the run is done')
  t.match(forced.json(), { ran: [{ task: 'prune', status: 'succeeded' }] })
})
