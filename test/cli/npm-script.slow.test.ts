/**
 * Inside a clone the package is not installed, so `npx fastify-scheduler` finds nothing;
 * `npm run cli -- <command>` runs the CLI from the sources instead, exit codes included.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { EXIT } from '../../cli/common.js'
import type { SchedulerListing } from '../../plugin/types.js'
import { childEnv, REPO } from '../helpers/cli.js'

function npmRunCli (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn('npm', ['run', '--silent', 'cli', '--', ...args], { cwd: REPO, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', code => resolve({ code, stdout, stderr }))
  })
}

t.test('npm run cli -- list loads a .ts app from the sources', async t => {
  const result = await npmRunCli(['list', '--app', 'test/fixtures/cli-app/app.ts', '--json'])
  t.equal(result.code, EXIT.ok, result.stderr)
  t.same((JSON.parse(result.stdout) as SchedulerListing).tasks.map(task => task.name), ['ok', 'boom', 'manual'])
})

t.test('npm run cli passes the exit code through', async t => {
  const result = await npmRunCli(['lst'])
  t.equal(result.code, EXIT.usage)
  t.match(result.stderr, 'unknown command "lst" (did you mean list?)')
})
