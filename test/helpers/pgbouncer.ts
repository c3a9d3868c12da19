/**
 * A throwaway PgBouncer for the pooler tests: transaction mode (as most deployments run it,
 * and where PgBouncer before 1.21 keeps no prepared statements), on a free port, in front of
 * a PostgreSQL server that is NOT ours (it is only connected to, never reconfigured). Run as
 * the `postgres` OS user (PgBouncer refuses root), with its config, log and pid file in a
 * temp folder; `stop` kills the process this helper spawned and removes the folder, and runs
 * when the process exits too.
 */
import { spawn, spawnSync, execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { freePort, isListening } from './services.js'

const USER = 'postgres'

function binary (): string | undefined {
  const folders = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin']
  return folders.map((folder) => join(folder, 'pgbouncer')).find((path) => existsSync(path))
}

/** Why a PgBouncer cannot be started here (one line), or undefined when it can. */
export function whyNoPgbouncer (): string | undefined {
  if (binary() === undefined) return 'pgbouncer is not installed (apt-get install pgbouncer)'
  if (process.getuid?.() !== 0) return 'running pgbouncer as the postgres user needs root'
  if (spawnSync('id', ['-u', USER]).status !== 0) return `no "${USER}" OS user to run pgbouncer as`
  return undefined
}

export interface Pgbouncer {
  /** A connection string to `database` through the pooler. */
  connectionString: string
  /** Its version line, e.g. "PgBouncer 1.18.0". */
  version: string
  stop: () => Promise<void>
}

/** Start PgBouncer in transaction mode in front of `upstream` (`database` as user postgres), `poolSize` server connections. */
export async function startPgbouncer (upstream: { host: string, port: number, database: string }, poolSize = 2): Promise<Pgbouncer> {
  const bin = binary()!
  const folder = mkdtempSync(join(tmpdir(), 'fs-pgbouncer-'))
  const uid = Number(execFileSync('id', ['-u', USER], { encoding: 'utf8' }))
  const gid = Number(execFileSync('id', ['-g', USER], { encoding: 'utf8' }))
  chownSync(folder, uid, gid)
  const port = await freePort()
  const ini = join(folder, 'pgbouncer.ini')
  writeFileSync(ini, `[databases]
${upstream.database} = host=${upstream.host} port=${upstream.port} dbname=${upstream.database} user=${USER}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = ${poolSize}
max_client_conn = 500
ignore_startup_parameters = extra_float_digits,options
logfile = ${join(folder, 'pgbouncer.log')}
pidfile = ${join(folder, 'pgbouncer.pid')}
`)
  chownSync(ini, uid, gid)
  const version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).split('\n')[0]!
  const child = spawn(bin, [ini], { uid, gid, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  let stopped = false
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    rmSync(folder, { recursive: true, force: true })
  }
  process.on('exit', kill)
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    process.removeListener('exit', kill)
    const exited = child.exitCode === null && child.signalCode === null ? once(child, 'exit') : undefined
    kill()
    await exited
  }
  for (let i = 0; i < 100 && !(await isListening(port)); i++) {
    if (child.exitCode !== null) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  if (!(await isListening(port))) {
    await stop()
    throw new Error(`pgbouncer did not start on port ${port}: ${stderr}`)
  }
  return { connectionString: `postgres://${USER}@127.0.0.1:${port}/${upstream.database}`, version, stop }
}
