/**
 * `fastify-scheduler crontab`: print ready-to-paste crontab lines — the part of the
 * original's docs users got wrong most. The line builders are exported: the example app's
 * demo prints the same lines.
 */
import { accessSync, constants } from 'node:fs'
import { delimiter, dirname, resolve } from 'node:path'
import { CliError, EXIT, parseCommandArgs, type Command } from './common.js'
import { findAppFile } from './load-app.js'

export const help = `Usage: fastify-scheduler crontab [--url URL] [--prefix PREFIX] [--app PATH] [--log FILE]

Print crontab lines (for \`crontab -e\`) that tick the app once a minute, in two forms;
use one:
  (a) curl: POST to the running app's trigger route. The token is read from a header
      file only you can read (mode 0600), never written in the crontab; the command
      that creates the file is printed with it. Needs curl 7.76 or later
      (--fail-with-body: a failed tick prints the failing task's message).
  (b) CLI: \`fastify-scheduler run\` boots the app without a server, runs what is due and
      exits; with a PATH line (cron's PATH has no node), the working directory and
      absolute paths, and the output appended to a log file.
Both forms are safe together (each occurrence runs once), but one is enough.

Options:
  --url URL        the app's base URL (default http://127.0.0.1:$PORT, PORT default 3000),
                   or the full trigger URL ending in /run
  --prefix PREFIX  the scheduler's route prefix (default /_schedule)
  --app PATH       the app for the CLI form (default: searched in the current folder)
  --log FILE       the CLI form's log file (default ./fastify-scheduler.log, made absolute)

Exit codes: 0 printed, 2 usage error.
`

/** Where the curl form reads its Authorization header from. Cron expands $HOME. */
export const HEADER_FILE = '$HOME/.config/fastify-scheduler/header'
const EVERY_MINUTE = '* * * * *'

/** Quote for sh when needed; `$HOME` prefixes stay expandable. */
export function shellQuote (value: string): string {
  if (/^[\w@%+=:,./-]+$/.test(value)) return value
  return `'${value.replace(/'/g, '\'\\\'\'')}'`
}

/** In a crontab command, `%` means newline unless escaped. */
function cronSafe (command: string): string {
  return command.replace(/%/g, '\\%')
}

/** The trigger URL: `base` + prefix + `/run`, or `base` itself when it already ends in `/run`. */
export function triggerUrl (base: string, prefix = '/_schedule'): string {
  let url: URL
  try {
    url = new URL(base)
  } catch {
    throw new CliError(`--url ${base}: not a URL (example: https://app.example.com)`, EXIT.usage)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(`--url ${base}: must be an http:// or https:// URL`, EXIT.usage)
  }
  if (!prefix.startsWith('/')) throw new CliError(`--prefix ${prefix}: must start with /`, EXIT.usage)
  if (/\/run\/?$/.test(url.pathname)) return url.href
  url.pathname = url.pathname.replace(/\/+$/, '') + prefix.replace(/\/+$/, '') + '/run'
  return url.href
}

/** The shell command that writes the header file, mode 0600, from $SCHEDULE_TOKEN. Run once. */
export function headerFileCommand (): string {
  return '(umask 077; mkdir -p "$HOME/.config/fastify-scheduler" && ' +
    `printf 'Authorization: Bearer %s\\n' "$SCHEDULE_TOKEN" > "${HEADER_FILE}" && chmod 600 "${HEADER_FILE}")`
}

/**
 * The curl flags of every printed line: `--fail-with-body` (curl 7.76+) exits non-zero on
 * 4xx/5xx like `-f` but keeps the answer's body, which names the failing task and its error.
 * It cannot be combined with `-f` (curl refuses the pair).
 */
export const CURL_FLAGS = '-sS --fail-with-body'

/**
 * (a) The curl crontab line: the token comes from the header file. A success prints
 * nothing (cron mails nothing); a failure prints curl's error and the answer's body.
 */
export function curlCronLine (url: string): string {
  return `${EVERY_MINUTE} ${cronSafe(`out=$(curl ${CURL_FLAGS} -X POST -H @${HEADER_FILE} ${shellQuote(url)}) || echo "$out"`)}`
}

/** A one-off curl command with the token inline, for trying a route by hand (POST by default). */
export function curlCommand (url: string, token: string, method: 'POST' | 'GET' = 'POST'): string {
  return `curl ${CURL_FLAGS}${method === 'POST' ? ' -X POST' : ''} -H ${shellQuote(`Authorization: Bearer ${token}`)} ${shellQuote(url)}`
}

export interface CliCronOptions {
  /** Folder of the node binary, put first on PATH. */
  nodeDir: string
  /** Absolute working directory. */
  cwd: string
  /** The command that starts the CLI (absolute paths). */
  command: string
  /** Absolute app path. */
  app: string
  /** Absolute log file. */
  logFile: string
}

/** (b) The CLI form: a PATH line, then the cron line. */
export function cliCronLines ({ nodeDir, cwd, command, app, logFile }: CliCronOptions): string[] {
  const path = [...new Set([nodeDir, '/usr/local/bin', '/usr/bin', '/bin'])].join(delimiter)
  return [
    `PATH=${path}`,
    `${EVERY_MINUTE} ${cronSafe(`cd ${shellQuote(cwd)} && ${command} run --app ${shellQuote(app)} >> ${shellQuote(logFile)} 2>&1`)}`
  ]
}

/** How this CLI was started, as an absolute command cron can run. */
export function cliCommand (script = process.argv[1], execPath = process.execPath): string {
  const path = resolve(script)
  // From source (development): node must load tsx, by absolute URL since cron's folder may not see it.
  if (/\.[mc]?ts$/.test(path)) return `${shellQuote(execPath)} --import ${shellQuote(import.meta.resolve('tsx'))} ${shellQuote(path)}`
  try {
    accessSync(path, constants.X_OK)
    return shellQuote(path)
  } catch {
    return `${shellQuote(execPath)} ${shellQuote(path)}`
  }
}

async function main (args: string[]): Promise<number> {
  const { values } = parseCommandArgs('crontab', args, {
    url: { type: 'string' },
    prefix: { type: 'string', default: '/_schedule' },
    app: { type: 'string' },
    log: { type: 'string', default: 'fastify-scheduler.log' }
  })
  const url = triggerUrl(values.url ?? `http://127.0.0.1:${process.env.PORT ?? 3000}`, values.prefix)
  const cwd = process.cwd()
  let app: string | undefined
  let appProblem = ''
  try {
    app = findAppFile(values.app, cwd)
  } catch (err) {
    if (values.app !== undefined) throw new CliError((err as Error).message, EXIT.usage)
    appProblem = `no app found in ${cwd}; pass --app PATH`
  }

  const lines = [
    '# fastify-scheduler: tick the app once a minute. Use ONE of the two forms below.',
    '',
    '# (a) curl: ping the running app. The token is read from a 0600 header file, never written here.',
    '#     Create that file once, in a shell, as the user who owns this crontab:',
    `#       ${headerFileCommand()}`,
    curlCronLine(url),
    '',
    '# (b) CLI: no server needed; boots the app, runs what is due, exits.'
  ]
  if (app !== undefined) {
    lines.push(...cliCronLines({ nodeDir: dirname(process.execPath), cwd, command: cliCommand(), app, logFile: resolve(values.log) }))
  } else {
    lines.push(`#     (not printed: ${appProblem})`)
  }
  process.stdout.write(lines.join('\n') + '\n')
  return EXIT.ok
}

export const crontabCommand: Command = {
  help,
  main
}
