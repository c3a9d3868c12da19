/**
 * The demo says where its token is: a generated token is printed with the export line to
 * paste into another shell and saved to the git-ignored `<dataDir>/.env` (0600), a restart
 * reuses it, and the CLI reads that file with `--dotenv`. The demo runs for real (a child
 * process on port 0).
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { CLI_APP, childEnv, runCli } from '../helpers/cli.js'

const SERVER = fileURLToPath(new URL('../../example-app/server.ts', import.meta.url))

/** Start the demo, resolve with what it printed once it printed the crontab line, then stop it. */
async function demo (dataDir: string, env: Record<string, string | undefined> = {}): Promise<string> {
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), SERVER], {
    env: childEnv({ PORT: '0', LOG_LEVEL: 'warn', FASTIFY_AUTOLOAD_TYPESCRIPT: '1', EXAMPLE_DATA_DIR: dataDir, EXAMPLE_OUTBOX_DIR: join(dataDir, 'outbox'), ...env }),
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const printed = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo printed no crontab line in 90 s:\n${stdout}\n${stderr}`)), 90_000)
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
      if (/\* \* \* \* \* out=\$\(curl/.test(stdout)) { clearTimeout(timer); resolve(stdout) }
    })
    child.on('exit', code => { clearTimeout(timer); reject(new Error(`the demo exited (${String(code)}):\n${stdout}\n${stderr}`)) })
  })
  const origin = /fastify-scheduler demo: (http:\/\/\S+)/.exec(printed)?.[1]
  // The printed token opens the routes of the running demo.
  const token = /export SCHEDULE_TOKEN=(\S+)/.exec(printed)?.[1]
  const answer = await fetch(`${origin ?? ''}/_schedule`, { headers: { authorization: `Bearer ${token ?? ''}` } })
  child.removeAllListeners('exit')
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
  return `${printed}\nstatus of GET /_schedule with the printed token: ${answer.status}`
}

t.test('a generated token: printed to paste, saved to data/.env (0600), reused on restart, read by the CLI', async t => {
  const dataDir = mkdtempSync(join(tmpdir(), 'demo-token-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const envFile = join(dataDir, '.env')

  const first = await demo(dataDir)
  const token = /export SCHEDULE_TOKEN=([0-9a-f]{64})\n/.exec(first)?.[1]
  t.ok(token, `an export line to paste: ${first}`)
  t.match(first, /In another shell, set the token first \(paste this line\):\n {2}export SCHEDULE_TOKEN=/)
  t.match(first, /token: +generated and saved to \S*\/\.env \(git-ignored/)
  t.match(first, /set -a; \. \S*\/\.env; set \+a/, 'how to read the file in a shell')
  t.match(first, /--dotenv /, 'the CLI form is printed')
  t.match(first, /status of GET \/_schedule with the printed token: 200/)
  t.ok(existsSync(envFile), 'the token file is written')
  t.equal(statSync(envFile).mode & 0o777, 0o600, 'only its owner can read it')
  t.match(readFileSync(envFile, 'utf8'), new RegExp(`^SCHEDULE_TOKEN=${token ?? 'none'}$`, 'm'))

  const second = await demo(dataDir)
  t.ok(second.includes(`export SCHEDULE_TOKEN=${token ?? 'none'}\n`), 'a restart keeps the token')
  t.match(second, /token: +from .*\.env \(saved by an earlier start\)/)
  t.match(second, /status of GET \/_schedule with the printed token: 200/)

  const chosen = await demo(dataDir, { SCHEDULE_TOKEN: 'a-token-from-the-environment-0123' })
  t.match(chosen, /token: +from SCHEDULE_TOKEN: a-token-from-the-environment-0123/)
  t.match(chosen, /export SCHEDULE_TOKEN=a-token-from-the-environment-0123\n/)
  t.notMatch(chosen, /set -a/, 'no file to point at')
  t.match(readFileSync(envFile, 'utf8'), token ?? 'none', 'the saved token is left as it was')
})

t.test('the CLI reads --dotenv FILE; variables already set win; a missing file is a usage error', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'env-file-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const store = join(dir, 'from-env-file.sqlite')
  writeFileSync(join(dir, '.env'), `# the fixture app's store, as cron would not have it\nCLI_APP_STORE=${store}\n`)
  const result = await runCli(['list', '--app', CLI_APP, '--dotenv', join(dir, '.env')], { env: { CLI_APP_STORE: undefined } })
  t.equal(result.code, 0, result.stderr)
  t.ok(existsSync(store), 'the app saw CLI_APP_STORE from the file')

  const other = join(dir, 'from-environment.sqlite')
  const kept = await runCli(['list', `--dotenv=${join(dir, '.env')}`, '--app', CLI_APP], { env: { CLI_APP_STORE: other } })
  t.equal(kept.code, 0, kept.stderr)
  t.ok(existsSync(other), 'a variable already set wins over the file')

  const missing = await runCli(['list', '--app', CLI_APP, '--dotenv', join(dir, 'nope.env')])
  t.equal(missing.code, 2)
  t.match(missing.stderr, /--dotenv .*nope\.env: cannot be read \(ENOENT\)/)
})
