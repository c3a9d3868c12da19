/**
 * An `--app` that is a server script (it calls listen() when loaded) gets a message saying
 * so and how to split app.ts / server.ts, exit 3, and no server: the port it asked for
 * stays free and the command does not hang.
 */
import t from 'tap'
import { createServer, Server } from 'node:net'
import { join } from 'node:path'
import { EXIT } from '../../cli/common.js'
import { loadApp } from '../../cli/load-app.js'
import { REPO, runCli } from '../helpers/cli.js'

const fixture = (name: string): string => join('test', 'fixtures', 'cli-app', name)

/** A port that was free a moment ago. */
async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise(resolve => server.close(resolve))
  return port
}

/** True when `port` can be bound on 127.0.0.1 now. */
async function portIsFree (port: number): Promise<boolean> {
  const server = createServer()
  return await new Promise(resolve => {
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

for (const [name, command] of [['listens.ts', 'list'], ['listens-cjs/app.js', 'run']] as const) {
  t.test(`${command} --app ${name}: a script that listens is refused, naming the split, and nothing listens`, async t => {
    const port = await freePort()
    const started = Date.now()
    const result = await runCli([command, '--app', fixture(name)], {
      env: { PORT: String(port) },
      onStderr: () => { void portIsFree(port).then(free => { if (!free) t.fail(`port ${port} was bound`) }) }
    })
    t.equal(result.code, EXIT.app, result.stderr)
    t.match(result.stderr, new RegExp(`^fastify-scheduler: ${fixture(name).replaceAll('.', '\\.')}: calls listen\\(\\) when it is loaded`))
    t.match(result.stderr, /no server was started/)
    t.match(result.stderr, /app\.ts\s+export default async function app \(fastify\)/)
    t.match(result.stderr, /server\.ts\s+import Fastify from 'fastify'; import app from '\.\/app\.js'/)
    t.match(result.stderr, /point --app at app\.ts/)
    t.notMatch(result.stdout, /listening/, 'the script never got to listen')
    t.ok(await portIsFree(port), 'the port is free')
    t.ok(Date.now() - started < 30_000, 'the command does not hang')
  })
}

t.test('loadApp refuses in-process too, and gives listen() back afterwards', async t => {
  const listen = Server.prototype.listen
  await t.rejects(loadApp({ app: fixture('listens-cjs/app.js'), cwd: REPO }), {
    name: 'CliError', exitCode: EXIT.app, message: /listens-cjs\/app\.js: calls listen\(\) when it is loaded/
  })
  t.equal(Server.prototype.listen, listen, 'listen() restored')
  t.ok(await portIsFree(await freePort()), 'this process can listen again')
})

// A JavaScript fixture: loading a .ts app in-process would register tsx in the test runner,
// which loads our sources a second time and corrupts coverage on Node 22 and later.
t.test('an app module that does not listen still loads, and listen() works after', async t => {
  const listen = Server.prototype.listen
  const loaded = await loadApp({ app: fixture('build.mjs'), cwd: REPO })
  t.teardown(() => loaded.close())
  t.ok(loaded.app.scheduler, 'booted')
  t.equal(Server.prototype.listen, listen, 'listen() restored')
})
