/**
 * `fastify-scheduler make:task NAME`: write a task file from a template that boots as is
 * (the original `craft task SayHi`).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { kebabCase } from '../tasks/resolve.js'
import { CliError, EXIT, parseCommandArgs, type Command } from './common.js'

export const help = `Usage: fastify-scheduler make:task NAME [--dir tasks] [--js] [--force]

Write a task file from a template: a class that runs every minute and logs. The file
is named after the task in kebab-case (SayHi and say-hi both give say-hi.ts), which
is also the task's name. Change its schedule (runEvery, runAt, runEveryHour, twiceDaily,
cron) and its handle() and it is done.

Arguments:
  NAME           PascalCase, camelCase or kebab-case: letters and digits, words joined
                 by - or _, starting with a letter (SayHi, sendDigest, prune-sessions)

Options:
  --dir DIR      the tasks folder, created if missing (default: tasks)
  --js           write JavaScript instead of TypeScript (ES module or CommonJS, after
                 the nearest package.json's "type")
  --force        overwrite the file if it exists

Exit codes: 0 written, 2 bad name, or the file exists (without --force).
`

const NAME = /^[A-Za-z][A-Za-z0-9]*(?:[-_][A-Za-z0-9]+)*$/
const MAX_NAME_LENGTH = 64

/** Check NAME; returns the task's kebab-case name and a class name. */
export function taskNames (name: string): { kebab: string, className: string } {
  if (!NAME.test(name) || name.length > MAX_NAME_LENGTH) {
    throw new CliError(`make:task: "${name}" is not a task name. Use PascalCase, camelCase or kebab-case: ` +
      `letters and digits, words joined by - or _, starting with a letter, at most ${MAX_NAME_LENGTH} characters ` +
      '(SayHi, sendDigest, prune-sessions).', EXIT.usage)
  }
  // The file name gives the task's name, so it is derived exactly as the boot derives it.
  const kebab = kebabCase(name)
  const className = /^[A-Z][A-Za-z0-9]*$/.test(name)
    ? name
    : kebab.split('-').map(word => word[0].toUpperCase() + word.slice(1)).join('')
  return { kebab, className }
}

type Flavour = 'ts' | 'esm' | 'cjs'

const DOC = (kebab: string): string => `/**
 * The ${kebab} task (its name is the file name). Change the schedule to one of:
 *   runEvery = '3 days' (with runAt = '17:00') · runAt = '17:00' · runEveryHour = true
 *   twiceDaily = [9, 17] · cron = '15 9 * * 1-5'
 * and, if needed: timezone, timeout ('10 minutes'), catchUp, overlap ('skip', 'bufferOne', 'cancelOther', 'allow'), enabled.
 */`

/** The file's text. The constructor receives the app: every decorator (app.db, app.mail, ...) is usable. */
export function taskTemplate (kebab: string, className: string, flavour: Flavour): string {
  const body = (constructor: string, handle: string): string => `${DOC(kebab)}
${flavour === 'cjs' ? 'module.exports =' : 'export default'} class ${className} extends Task {
  runEveryMinute = true

${constructor}

${handle}
}
`
  if (flavour === 'ts') {
    return `import type { FastifyInstance } from 'fastify'
import { Task, type TaskContext } from 'fastify-scheduler'

${body(`  constructor (readonly app: FastifyInstance) {
    super()
  }`, `  async handle ({ log, scheduledFor }: TaskContext): Promise<void> {
    log.info({ scheduledFor }, '${kebab} ran')
  }`)}`
  }
  const header = flavour === 'esm'
    ? "import { Task } from 'fastify-scheduler'\n"
    : "'use strict'\n\nconst { Task } = require('fastify-scheduler')\n"
  return `${header}
${body(`  /** @param {import('fastify').FastifyInstance} app */
  constructor (app) {
    super()
    this.app = app
  }`, `  /** @param {import('fastify-scheduler').TaskContext} ctx */
  async handle ({ log, scheduledFor }) {
    log.info({ scheduledFor }, '${kebab} ran')
  }`)}`
}

/** "module" or "commonjs", after the nearest package.json above `folder`. */
function packageType (folder: string): 'module' | 'commonjs' {
  for (let dir = folder; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json')
    if (existsSync(file)) {
      try {
        return (JSON.parse(readFileSync(file, 'utf8')) as { type?: string }).type === 'module' ? 'module' : 'commonjs'
      } catch {
        return 'commonjs'
      }
    }
    if (dirname(dir) === dir) return 'commonjs'
  }
}

const SIBLING_EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs']

async function main (args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('make:task', args, {
    dir: { type: 'string', default: 'tasks' },
    js: { type: 'boolean' },
    force: { type: 'boolean' }
  }, true)
  if (positionals.length !== 1) {
    throw new CliError(`make:task: expected one NAME, got ${positionals.length === 0 ? 'none' : positionals.join(' ')}. ` +
      'Example: fastify-scheduler make:task SayHi', EXIT.usage)
  }
  if (values.dir === '') throw new CliError('make:task: --dir needs a folder', EXIT.usage)
  const { kebab, className } = taskNames(positionals[0])
  const folder = resolve(values.dir)
  const extension = values.js === true ? '.js' : '.ts'
  const file = join(folder, kebab + extension)
  const shown = relative(process.cwd(), file) || file

  // Another file with this name would give a second task "<kebab>" and fail the boot.
  const sibling = SIBLING_EXTENSIONS.map(ext => join(folder, kebab + ext)).find(path => path !== file && existsSync(path))
  if (sibling !== undefined) {
    throw new CliError(`make:task: ${relative(process.cwd(), sibling)} already defines the task "${kebab}"; ` +
      'two files with one name fail the boot. Pick another name or remove that file.', EXIT.usage)
  }
  if (existsSync(file) && values.force !== true) {
    throw new CliError(`make:task: ${shown} already exists; pass --force to overwrite it`, EXIT.usage)
  }
  const flavour: Flavour = values.js !== true ? 'ts' : packageType(folder) === 'module' ? 'esm' : 'cjs'
  mkdirSync(folder, { recursive: true })
  writeFileSync(file, taskTemplate(kebab, className, flavour))
  process.stdout.write(`created ${shown}: task "${kebab}" (class ${className}), runs every minute\n`)
  return EXIT.ok
}

export const makeTaskCommand: Command = {
  help,
  main
}
