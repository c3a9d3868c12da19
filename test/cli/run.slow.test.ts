/**
 * `fastify-scheduler run`, spawned for real against test/fixtures/cli-app (a TypeScript app
 * with a task that succeeds, one that fails and one that runs only when forced).
 */
import t from 'tap'
import { join } from 'node:path'
import { CLI_APP, runCli } from '../helpers/cli.js'

interface JsonRun { task: string, status: string, error?: string, durationMs?: number }

t.test('a failing task makes run exit 1, and the table says which and why', async t => {
  const result = await runCli(['run', '--app', CLI_APP])
  t.equal(result.code, 1, result.stderr)
  t.match(result.stdout, /^TASK\s+STATUS\s+DURATION\s+ERROR$/m)
  t.match(result.stdout, /^boom\s+failed\s+\S+ ms\s+boom: the fixture task fails on purpose$/m)
  t.match(result.stdout, /^ok\s+succeeded\s/m)
  t.notMatch(result.stdout, /manual/, 'a manual-only task does not run unforced')
  t.match(result.stderr, /run: warning: the memory store forgets its state when this process exits/)
})

t.test('--task runs only the named task: exit 0 when it succeeds', async t => {
  const result = await runCli(['run', '--app', CLI_APP, '--task', 'ok', '--json'])
  t.equal(result.code, 0, result.stderr)
  const parsed = JSON.parse(result.stdout) as { now: string, runs: JsonRun[] }
  t.ok(Number.isFinite(Date.parse(parsed.now)))
  t.same(parsed.runs.map(run => [run.task, run.status]), [['ok', 'succeeded']])
})

t.test('--force runs a manual-only task; repeated --task runs several', async t => {
  const unforced = await runCli(['run', '--app', CLI_APP, '--task', 'manual'])
  t.equal(unforced.code, 0, unforced.stderr)
  t.match(unforced.stdout, /^nothing due at \d{4}-\d\d-\d\dT/m)

  const forced = await runCli(['run', '--app', CLI_APP, '--task', 'manual', '--task', 'boom', '--force', '--json', '--verbose'])
  t.equal(forced.code, 1, 'boom failed, so the forced run exits 1')
  const runs = (JSON.parse(forced.stdout) as { runs: JsonRun[] }).runs
  t.same(runs.map(run => [run.task, run.status]).sort(), [['boom', 'failed'], ['manual', 'succeeded']])
  t.match(forced.stderr, /"forced":true.*"msg":"manual ran"/, '--verbose logs the task at info on stderr')
})

t.test('--json keeps stdout clean JSON; logs go to stderr', async t => {
  const result = await runCli(['run', '--app', CLI_APP, '--json'])
  t.equal(result.code, 1)
  const parsed = JSON.parse(result.stdout) as { runs: JsonRun[] }
  t.same(parsed.runs.map(run => run.task).sort(), ['boom', 'ok'])
  t.match(parsed.runs.find(run => run.task === 'boom')?.error, /fails on purpose/)
  t.match(result.stderr, /"level":50/, 'the failure is logged (level error) on stderr')
})

t.test('usage errors exit 2 and name the option or task', async t => {
  const unknownTask = await runCli(['run', '--app', CLI_APP, '--task', 'nope'])
  t.equal(unknownTask.code, 2)
  t.match(unknownTask.stderr, /--task nope: no such task in .*app\.ts\. Tasks: ok, boom, manual/)

  const unknownOption = await runCli(['run', '--bogus'])
  t.equal(unknownOption.code, 2)
  t.match(unknownOption.stderr, /run: Unknown option '--bogus'/)
  t.match(unknownOption.stderr, /fastify-scheduler run --help/)

  const unknownCommand = await runCli(['frobnicate'])
  t.equal(unknownCommand.code, 2)
  t.match(unknownCommand.stderr, /unknown command "frobnicate"\. Commands: run, list, work, pause, resume, backfill, make:task, crontab/)
})

t.test('a store that cannot be opened exits 4', async t => {
  // A file where the store wants a folder: SQLite cannot open its database there.
  const result = await runCli(['run', '--app', CLI_APP], { env: { CLI_APP_STORE: join(CLI_APP, 'db.sqlite') } })
  t.equal(result.code, 4, result.stderr)
  t.match(result.stderr, /app\.ts: the app failed to boot: cannot open the SQLite store at \/.*db\.sqlite: .*sqliteStore\(\{ path \}\)/)
  t.notMatch(result.stderr, /no task ran/, 'at boot nothing was asked to run')
})

t.test('--help and --version', async t => {
  const help = await runCli(['run', '--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /Usage: fastify-scheduler run \[--app PATH\] \[--task NAME\]\.\.\. \[--force\] \[--json\]/)
  t.match(help.stdout, /1 a run failed or timed out/)
  const version = await runCli(['--version'])
  t.equal(version.code, 0)
  t.match(version.stdout, /^\d+\.\d+\.\d+/)
})
