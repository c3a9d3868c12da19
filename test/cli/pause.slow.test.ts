/** `fastify-scheduler pause` / `resume`, spawned for real against one SQLite file (docs/PAUSE.md). */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PauseAnswer, ResumeAnswer, SchedulerListing } from '../../plugin/types.js'
import { CLI_APP, runCli } from '../helpers/cli.js'

t.test('pause a task with a reason, see it in the listing and in `run`, resume it', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-pause-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const env = { CLI_APP_STORE: join(dir, 'store.sqlite') }

  const paused = await runCli(['pause', 'ok', '--reason', 'partner API down', '--app', CLI_APP], { env })
  t.equal(paused.code, 0, paused.stderr)
  t.match(paused.stdout, /^task "ok" paused since \S+: partner API down \(by cli\)$/m)

  const listing = JSON.parse((await runCli(['list', '--app', CLI_APP, '--json'], { env })).stdout) as SchedulerListing
  t.match(listing.tasks.find(task => task.name === 'ok')!.paused, { reason: 'partner API down', by: 'cli', all: false })

  const ran = await runCli(['run', '--app', CLI_APP, '--task', 'ok'], { env })
  t.notMatch(ran.stdout, /succeeded/, 'a paused task does not run from another process')

  const resumed = await runCli(['resume', 'ok', '--json', '--app', CLI_APP], { env })
  t.equal(resumed.code, 0, resumed.stderr)
  t.match(JSON.parse(resumed.stdout) as ResumeAnswer, { task: 'ok', resumed: true })
  const again = await runCli(['resume', 'ok', '--app', CLI_APP], { env })
  t.match(again.stdout, /was not paused: nothing changed/)
})

t.test('pause everything as JSON; an unknown task is a usage error naming it', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-pause-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const env = { CLI_APP_STORE: join(dir, 'store.sqlite') }
  const all = await runCli(['pause', '--json', '--by', 'ops', '--app', CLI_APP], { env })
  t.equal(all.code, 0, all.stderr)
  t.match(JSON.parse(all.stdout) as PauseAnswer, { task: null, paused: { by: 'ops', all: true } })
  const unknown = await runCli(['pause', 'nope', '--app', CLI_APP], { env })
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /unknown task "nope"/)
  const two = await runCli(['resume', 'a', 'b', '--app', CLI_APP], { env })
  t.equal(two.code, 2)
  t.match(two.stderr, /name one task/)
})
