/** `fastify-scheduler backfill`, spawned for real against one SQLite file (docs/PAYLOADS.md#backfills). */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BackfillAnswer, SchedulerListing } from '../../plugin/types.js'
import { CLI_APP, runCli } from '../helpers/cli.js'
import { sqliteStore } from '../../plugin/stores/sqlite/index.js'

const MINUTE = 60_000

t.test('backfill a task from the CLI; each `run` from another process moves it by one occurrence', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-backfill-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'store.sqlite')
  const env = { CLI_APP_STORE: path }
  const minute = Math.floor(Date.now() / MINUTE) * MINUTE
  const from = new Date(minute - 30 * MINUTE).toISOString()
  const to = new Date(minute - 29 * MINUTE).toISOString()

  const accepted = await runCli(['backfill', 'ok', '--from', from, '--to', to, '--app', CLI_APP], { env })
  t.equal(accepted.code, 0, accepted.stderr)
  t.match(accepted.stdout, /^backfill accepted: task "ok", 2 occurrences from \S+ to \S+ \(id [0-9a-f-]+; 0 done, 0 skipped; next \S+\)/m)
  const again = await runCli(['backfill', 'ok', '--from', from, '--to', to, '--json', '--app', CLI_APP], { env })
  t.match(JSON.parse(again.stdout) as BackfillAnswer, { task: 'ok', occurrences: 2, created: false })

  const listing = JSON.parse((await runCli(['list', '--app', CLI_APP, '--json'], { env })).stdout) as SchedulerListing
  t.match(listing.tasks.find(task => task.name === 'ok')!.backfills, [{ occurrences: 2, done: 0 }])

  for (let i = 0; i < 3; i++) {
    const ran = await runCli(['run', '--app', CLI_APP], { env })
    t.ok(ran.code === 0 || ran.code === 1, ran.stderr)
  }
  const store = sqliteStore({ path })
  t.teardown(() => store.close())
  await store.init()
  const backfilled = (await store.listRuns({ task: ['ok'], limit: 100 })).runs.filter(r => r.trigger === 'backfill')
  t.same(backfilled.map(r => r.scheduledFor.toISOString()).sort(), [from, to], 'both occurrences ran once, one per `run`')
  t.same((await store.heartbeat()).backfills, [], 'finished')

  const refused = await runCli(['backfill', 'ok', '--from', to, '--to', from, '--app', CLI_APP], { env })
  t.equal(refused.code, 2)
  t.match(refused.stderr, /from .* is after to/)
  const future = await runCli(['backfill', 'ok', '--from', from, '--to', new Date(Date.now() + 3_600_000).toISOString(), '--app', CLI_APP], { env })
  t.equal(future.code, 2)
  t.match(future.stderr, /future/)
  const missing = await runCli(['backfill', 'ok', '--from', from, '--app', CLI_APP], { env })
  t.equal(missing.code, 2)
  t.match(missing.stderr, /--to is required/)
})
