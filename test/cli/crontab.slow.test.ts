/**
 * `fastify-scheduler crontab`, spawned for real: every cron line has exactly five time
 * fields, the curl form reads the token from a header file and never contains it, and the
 * CLI form sets PATH, changes to an absolute folder and appends to a log.
 */
import t from 'tap'
import { dirname } from 'node:path'
import { CLI, CLI_APP, REPO, runCli } from '../helpers/cli.js'

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
  t.equal(curl, '* * * * * curl -fsS -X POST -H @$HOME/.config/fastify-scheduler/header https://app.example.com/_schedule/run >/dev/null')
  t.notMatch(result.stdout, TOKEN, 'the token is printed nowhere')
  t.match(result.stdout, /umask 077; mkdir -p "\$HOME\/\.config\/fastify-scheduler" && printf 'Authorization: Bearer %s\\n' "\$SCHEDULE_TOKEN" > "\$HOME\/\.config\/fastify-scheduler\/header"/)

  const path = result.stdout.split('\n').find(line => line.startsWith('PATH='))
  t.ok(path?.startsWith(`PATH=${dirname(process.execPath)}:`), `PATH starts with node's folder: ${path}`)
  t.equal(cli, `* * * * * cd ${REPO.replace(/\/$/, '')} && ${process.execPath} --import ${import.meta.resolve('tsx')} ${CLI} run --app ${CLI_APP} >> ${REPO}fastify-scheduler.log 2>&1`)
})

t.test('--url may be the full trigger URL; --prefix changes the route; bad URLs exit 2', async t => {
  const full = await runCli(['crontab', '--url', 'http://10.0.0.5:8080/_schedule/run', '--app', CLI_APP])
  t.match(cronLines(full.stdout)[0], / http:\/\/10\.0\.0\.5:8080\/_schedule\/run >\/dev\/null$/)
  const prefixed = await runCli(['crontab', '--url', 'http://localhost:3000', '--prefix', '/ops/cron', '--app', CLI_APP])
  t.match(cronLines(prefixed.stdout)[0], / http:\/\/localhost:3000\/ops\/cron\/run >\/dev\/null$/)

  const bad = await runCli(['crontab', '--url', 'localhost:3000'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /--url localhost:3000: must be an http:\/\/ or https:\/\/ URL/)
  const missingApp = await runCli(['crontab', '--app', 'nowhere.ts'])
  t.equal(missingApp.code, 2)
  t.match(missingApp.stderr, /--app nowhere\.ts: no such file/)
})
