/**
 * Runs the real `fastify-scheduler` command in a child process: `node --import tsx
 * cli/index.ts ...args`, or a given entry (a compiled CLI). Resolves with the exit code and
 * the output; nothing is mocked.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { untrackedEnv } from './child-env.js'

export const REPO = fileURLToPath(new URL('../..', import.meta.url))
export const CLI = fileURLToPath(new URL('../../cli/index.ts', import.meta.url))
export const CLI_APP = fileURLToPath(new URL('../fixtures/cli-app/app.ts', import.meta.url))

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export interface RunCliOptions {
  cwd?: string
  env?: Record<string, string | undefined>
  /** Node arguments before the script; default: load tsx and run the TypeScript source. */
  node?: string[]
  /** The script; default cli/index.ts. */
  entry?: string
  /** Called with each stdout chunk as it arrives, and the child (to send it signals). */
  onStdout?: (chunk: string, child: ReturnType<typeof spawn>) => void
  onStderr?: (chunk: string, child: ReturnType<typeof spawn>) => void
}

/** The environment of a child: this process's, without SCHEDULE_TOKEN, plus `extra`. */
export function childEnv (extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = untrackedEnv(extra)
  if (!('SCHEDULE_TOKEN' in extra)) delete env.SCHEDULE_TOKEN
  for (const [key, value] of Object.entries(extra)) if (value === undefined) delete env[key]
  return env
}

export function runCli (args: string[], options: RunCliOptions = {}): Promise<CliResult> {
  const node = options.node ?? ['--import', import.meta.resolve('tsx')]
  const child = spawn(process.execPath, [...node, options.entry ?? CLI, ...args], {
    cwd: options.cwd ?? REPO,
    env: childEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; options.onStdout?.(chunk, child) })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; options.onStderr?.(chunk, child) })
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
}

/**
 * Compile the package's sources to JavaScript (no type check, as `tsc` emits with
 * isolatedModules) into a folder under node_modules/.cache, so the CLI can be run by plain
 * `node`, with no TypeScript loader — as users run the installed bin. Returns `cli/index.js`.
 */
export async function compileCli (): Promise<{ entry: string, remove: () => void }> {
  const { default: ts } = await import('typescript')
  const { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } = await import('node:fs')
  const { dirname, join } = await import('node:path')
  const cache = join(REPO, 'node_modules', '.cache')
  mkdirSync(cache, { recursive: true })
  const out = mkdtempSync(join(cache, 'fastify-scheduler-cli-'))
  const sources = ['index.ts', 'plugin.ts', ...['cli', 'core', 'plugin', 'routes', 'tasks'].flatMap(folder =>
    (readdirSync(join(REPO, folder), { recursive: true }) as string[])
      .filter(file => file.endsWith('.ts') && !file.endsWith('.d.ts'))
      .map(file => join(folder, file)))]
  for (const source of sources) {
    const { outputText } = ts.transpileModule(readFileSync(join(REPO, source), 'utf8'), {
      fileName: source,
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true }
    })
    const target = join(out, source.replace(/\.ts$/, '.js'))
    mkdirSync(dirname(target), { recursive: true })
    writeFileSync(target, outputText)
  }
  // Relative imports in package.json-less folders: mark the output as ES modules.
  writeFileSync(join(out, 'package.json'), JSON.stringify({ type: 'module' }))
  return { entry: join(out, 'cli', 'index.js'), remove: () => rmSync(out, { recursive: true, force: true }) }
}
