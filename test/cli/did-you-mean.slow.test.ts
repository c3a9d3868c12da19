/**
 * Typos on the command line name the closest command or option (exit 2), as typos in task
 * files do: `fastify-scheduler lst` → list, `--tsk` → --task.
 */
import t from 'tap'
import { EXIT } from '../../cli/common.js'
import { runCli } from '../helpers/cli.js'

t.test('an unknown command names the closest one', async t => {
  for (const [typo, meant] of [['lst', 'list'], ['ran', 'run'], ['make-task', 'make:task'], ['crontabs', 'crontab'], ['wrok', 'work']]) {
    const result = await runCli([typo])
    t.equal(result.code, EXIT.usage, typo)
    t.match(result.stderr, `fastify-scheduler: unknown command "${typo}" (did you mean ${meant}?). Commands: run, list`, typo)
    t.equal(result.stdout, '', 'nothing on stdout')
  }
})

t.test('an unknown option before the command names --help or --version', async t => {
  const result = await runCli(['--verison'])
  t.equal(result.code, EXIT.usage)
  t.match(result.stderr, 'unknown option "--verison" (did you mean --version?)')
})

t.test("an unknown option names the command's closest option", async t => {
  const cases: Array<[string[], string]> = [
    [['run', '--tsk', 'ok'], "run: Unknown option '--tsk' (did you mean --task?)"],
    [['run', '--forse'], "run: Unknown option '--forse' (did you mean --force?)"],
    [['list', '--jsno'], "list: Unknown option '--jsno' (did you mean --json?)"],
    [['list', '--ap=app.ts'], "list: Unknown option '--ap' (did you mean --app?)"],
    [['make:task', 'SayHi', '--dri', 'tasks'], "make:task: Unknown option '--dri' (did you mean --dir?)"]
  ]
  for (const [args, message] of cases) {
    const result = await runCli(args)
    t.equal(result.code, EXIT.usage, args.join(' '))
    t.match(result.stderr, message, args.join(' '))
    t.match(result.stderr, `Run \`fastify-scheduler ${args[0]} --help\` for usage.`)
  }
})

t.test('nothing close: no guess', async t => {
  const result = await runCli(['run', '--zzzzzz'])
  t.equal(result.code, EXIT.usage)
  t.match(result.stderr, "run: Unknown option '--zzzzzz'\n")
  t.notMatch(result.stderr, /did you mean/)
})
