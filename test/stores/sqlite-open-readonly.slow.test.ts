/**
 * The read-only folder case of sqlite-open.test.ts when the tests run as root, whom a 0555
 * folder does not stop: the store is opened by a child process run as `nobody` (setpriv), for
 * whom the folder is read-only as on a serverless host. The error names the absolute path,
 * the folder that cannot be written, and the way out.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { untrackedEnv } from '../helpers/child-env.js'

const STORE = fileURLToPath(new URL('../../plugin/stores/sqlite/index.ts', import.meta.url))

function whyNot (): string | undefined {
  if (process.getuid?.() !== 0) return 'not root: sqlite-open.test.ts runs this case in-process'
  try {
    execFileSync('setpriv', ['--version'], { stdio: 'ignore' })
  } catch {
    return 'setpriv (util-linux) is not installed'
  }
  return undefined
}

t.test('a 0555 folder, opened as nobody', { skip: whyNot() ?? false }, async t => {
  const dir = mkdtempSync(join(tmpdir(), 'sqlite-readonly-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  chmodSync(dir, 0o755)
  const readOnly = join(dir, 'read-only')
  mkdirSync(readOnly)
  chmodSync(readOnly, 0o555)
  const path = join(readOnly, 'scheduler.sqlite')
  const probe = join(dir, 'probe.mts')
  writeFileSync(probe, `import { sqliteStore } from ${JSON.stringify(STORE)}
await sqliteStore({ path: ${JSON.stringify(path)} }).init().then(
  () => console.log('opened'), (err) => console.log(JSON.stringify({ code: err.code, message: err.message })))
`, { mode: 0o644 })
  const child = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--import', import.meta.resolve('tsx'), probe], {
    env: untrackedEnv({ HOME: dir }), encoding: 'utf8', timeout: 60_000
  })
  t.equal(child.status, 0, child.stderr)
  const { code, message } = JSON.parse(child.stdout.trim()) as { code: string, message: string }
  t.equal(code, 'FST_SCHEDULER_STORE_OPEN')
  t.ok(message.startsWith(`cannot open the SQLite store at ${path}: the folder ${readOnly} is not writable (EACCES)`), message)
  t.match(message, /SQLITE_CANTOPEN/, 'the driver\'s reason')
  t.match(message, /Pass sqliteStore\(\{ path \}\) with a writable file .* or use redisStore\(\) or postgresStore\(\)/)
  t.notMatch(message, /no task ran/)
})
