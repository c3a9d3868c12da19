/** `fastify-scheduler list`, spawned for real: an aligned table, or JSON. */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { SchedulerListing } from '../../plugin/types.js'
import { CLI_APP, runCli } from '../helpers/cli.js'

const COLUMNS = ['NAME', 'SCHEDULE', 'NEXT RUN', 'LAST RUN', 'TIME ZONE']

t.test('the listing as an aligned table, with a sqlite store that remembers the last run', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-list-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const env = { CLI_APP_STORE: join(dir, 'store.sqlite') }
  const ran = await runCli(['run', '--app', CLI_APP, '--task', 'ok'], { env })
  t.equal(ran.code, 0, ran.stderr)
  t.notMatch(ran.stderr, /memory store/, 'no warning with a durable store')

  const result = await runCli(['list', '--app', CLI_APP], { env })
  t.equal(result.code, 0, result.stderr)
  const [store, header, ...rows] = result.stdout.trimEnd().split('\n')
  t.equal(store, 'store: sqlite')
  const offsets = COLUMNS.map(column => header.indexOf(column))
  t.ok(offsets.every((offset, i) => offset >= 0 && (i === 0 || offset > offsets[i - 1])), `header: ${header}`)
  const cells = Object.fromEntries(rows.map(row => {
    const values = offsets.map((offset, i) => row.slice(offset, offsets[i + 1]).trim())
    return [values[0], values.slice(1)]
  }))
  t.same(Object.keys(cells), ['ok', 'boom', 'manual'])
  t.match(cells.ok, ['every minute (UTC)', /^\d{4}-\d\d-\d\d \d\d:\d\d$/, /^succeeded \d{4}-\d\d-\d\d \d\d:\d\d \(\d+ ms\)$/, 'UTC'])
  t.match(cells.boom, ['every minute (UTC)', /^\d{4}-/, 'never', 'UTC'])
  t.match(cells.manual, ['manual only', 'manual only', 'never', 'UTC'])
})

t.test('--json prints the listing document; the memory store says it is not durable', async t => {
  const result = await runCli(['list', '--app', CLI_APP, '--json'])
  t.equal(result.code, 0, result.stderr)
  const listing = JSON.parse(result.stdout) as SchedulerListing
  t.same(listing.store, { kind: 'memory', durable: false })
  t.same(listing.tasks.map(task => [task.name, task.manual, task.timezone]), [['ok', false, 'UTC'], ['boom', false, 'UTC'], ['manual', true, 'UTC']])
  t.ok(listing.tasks[0].nextRun !== null && Date.parse(listing.tasks[0].nextRun) > Date.parse(listing.now))

  const table = await runCli(['list', '--app', CLI_APP])
  t.match(table.stdout, /^store: memory \(not durable: state is lost when the process exits\)$/m)
})
