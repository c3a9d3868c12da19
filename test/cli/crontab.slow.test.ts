/**
 * `fastify-scheduler crontab`, spawned for real: every cron line has exactly five time
 * fields, the curl form reads the token from a header file and never contains it, and the
 * CLI form sets PATH, changes to an absolute folder and appends to a log.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { curlCronLine, headerFileCommand, triggerUrl } from '../../cli/crontab.js'
import { defineTask } from '../../tasks/task.js'
import { buildApp } from '../helpers/app.js'
import { CLI, CLI_APP, REPO, childEnv, runCli } from '../helpers/cli.js'

const TOKEN = 'a-secret-token-that-must-not-leak-0123456789'

/** The lines cron runs: neither comments, blank lines nor VAR=value settings. */
function cronLines (output: string): string[] {
  return output.split('\n').filter(line => line.trim() !== '' && !line.startsWith('#') && !/^[A-Z_]+=/.test(line))
}

t.test('both forms, ready to paste', async t => {
  const result = await runCli(['crontab', '--url', 'https://app.example.com/', '--app', CLI_APP], { env: { SCHEDULE_TOKEN: TOKEN } })
  t.equal(result.code, 0, result.stderr)
  const lines = cronLines(result.stdout)
  t.equal(lines.length, 2, result.stdout)
  for (const line of lines) {
    const fields = line.split(/\s+/)
    t.same(fields.slice(0, 5), ['*', '*', '*', '*', '*'], `five time fields: ${line}`)
    t.notMatch(fields[5], /^[*\d/,-]+$/, 'the sixth field is the command, not a sixth time field')
  }
  const [curl, cli] = lines
  t.equal(curl, '* * * * * out=$(curl -sS --fail-with-body -X POST -H @$HOME/.config/fastify-scheduler/header https://app.example.com/_schedule/run) || echo "$out"')
  t.notMatch(result.stdout, TOKEN, 'the token is printed nowhere')
  t.match(result.stdout, /umask 077; mkdir -p "\$HOME\/\.config\/fastify-scheduler" && printf 'Authorization: Bearer %s\\n' "\$SCHEDULE_TOKEN" > "\$HOME\/\.config\/fastify-scheduler\/header"/)

  const path = result.stdout.split('\n').find(line => line.startsWith('PATH='))
  t.ok(path?.startsWith(`PATH=${dirname(process.execPath)}:`), `PATH starts with node's folder: ${path}`)
  t.equal(cli, `* * * * * cd ${REPO.replace(/\/$/, '')} && ${process.execPath} --import ${import.meta.resolve('tsx')} ${CLI} run --app ${CLI_APP} >> ${REPO}fastify-scheduler.log 2>&1`)
})

t.test('--url may be the full trigger URL; --prefix changes the route; bad URLs exit 2', async t => {
  const full = await runCli(['crontab', '--url', 'http://10.0.0.5:8080/_schedule/run', '--app', CLI_APP])
  t.match(cronLines(full.stdout)[0], / http:\/\/10\.0\.0\.5:8080\/_schedule\/run\) \|\| echo "\$out"$/)
  const prefixed = await runCli(['crontab', '--url', 'http://localhost:3000', '--prefix', '/ops/cron', '--app', CLI_APP])
  t.match(cronLines(prefixed.stdout)[0], / http:\/\/localhost:3000\/ops\/cron\/run\) \|\| echo "\$out"$/)

  const bad = await runCli(['crontab', '--url', 'localhost:3000'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /--url localhost:3000: must be an http:\/\/ or https:\/\/ URL/)
  const missingApp = await runCli(['crontab', '--app', 'nowhere.ts'])
  t.equal(missingApp.code, 2)
  t.match(missingApp.stderr, /--app nowhere\.ts: no such file/)
})

t.test('the printed curl line, run by sh: silent on success, the failing task\'s message on failure', async t => {
  let fail = false
  const app = await buildApp({
    routes: true,
    auth: { tokens: [TOKEN] },
    tasks: [defineTask({ name: 'flaky', handle () { if (fail) throw new Error('the mail server refused the batch') } })]
  })
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const home = mkdtempSync(join(tmpdir(), 'crontab-home-'))
  t.teardown(() => rmSync(home, { recursive: true, force: true }))
  const sh = (command: string) => promisify(execFile)('sh', ['-c', command], { env: childEnv({ HOME: home, SCHEDULE_TOKEN: TOKEN }) })
  await sh(headerFileCommand())
  t.equal(statSync(join(home, '.config/fastify-scheduler/header')).mode & 0o777, 0o600, 'the header file is 0600')

  // As cron runs it: the command after the five time fields, with a task forced through the query.
  const command = curlCronLine(triggerUrl(app.listeningOrigin) + '?task=flaky&force=true').split(' ').slice(5).join(' ')
  const ok = await sh(command)
  t.equal(ok.stdout + ok.stderr, '', 'a success prints nothing: cron mails nothing')

  fail = true
  const failed = await sh(command)
  t.match(failed.stderr, /curl: \(22\) .*500/, 'curl names the status')
  t.match(failed.stdout, /the mail server refused the batch/, 'the body, with the failing task\'s message, is kept')
  t.match(failed.stdout, /flaky/)
})
