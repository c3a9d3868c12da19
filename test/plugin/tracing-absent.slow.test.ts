/**
 * Where `@opentelemetry/api` does not resolve (docs/OBSERVABILITY.md#tracing): a child process
 * whose resolve hook refuses it boots the plugin and runs a task with tracing unset, and
 * `tracing: true` fails the boot naming the option.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { untrackedEnv } from '../helpers/child-env.js'

const run = promisify(execFile)

t.test('without @opentelemetry/api: runs as usual; tracing: true fails the boot', async t => {
  const app = fileURLToPath(new URL('../fixtures/no-otel/app.ts', import.meta.url))
  const { stdout } = await run(process.execPath, ['--import', 'tsx', app], { env: untrackedEnv(), timeout: 60_000 })
  const report = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>
  t.equal(report.apiResolves, false, 'the package does not resolve in the child')
  t.equal(report.status, 'succeeded', 'a run works without it')
  t.match(report.tracingTrue, { code: 'FST_SCHEDULER_INVALID_OPTION', message: /tracing: true needs the package @opentelemetry\/api/ })
})
