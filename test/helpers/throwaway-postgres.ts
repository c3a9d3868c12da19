/**
 * A throwaway PostgreSQL cluster for fault tests: `initdb` into a fresh temp folder, started
 * with `pg_ctl` on a free port (127.0.0.1 only, trust auth, its socket in the temp folder),
 * as the `postgres` OS user (the server refuses to run as root). The test may terminate its
 * backends, freeze every one of its processes (SIGSTOP) or stop it outright, which nobody
 * may do to the shared cluster on 5432. `destroy` stops it (`pg_ctl stop -m immediate`) and
 * removes the folder; it also runs when the process exits, so a failed test leaves nothing
 * behind (on SIGTERM, SIGINT and SIGHUP too). Only pids read from this cluster's own postmaster.pid are ever signalled.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './services.js'

const POSTGRES_USER = 'postgres'
const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const

export interface ThrowawayPostgres {
  connectionString: string
  port: number
  /** The postmaster and every process it forked (backends, checkpointer, ...), now. */
  pids: () => number[]
  /** SIGSTOP every process of the cluster: it accepts TCP connections (the kernel does) and answers nothing. */
  freeze: () => number[]
  /** SIGCONT what `freeze` stopped. */
  thaw: () => void
  /** `pg_ctl stop -m immediate`: every connection drops, nothing listens on the port. */
  stop: () => void
  /** Start it again on the same port and data. */
  start: () => void
  /** Stop it (if running) and delete its folder. Idempotent. */
  destroy: () => void
}

/** The newest installed server's bin folder (Debian layout), or undefined. */
function binDir (): string | undefined {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a))
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin')
}

/** Why a throwaway cluster cannot be made here, or undefined when it can. */
export function whyNoThrowawayPostgres (): string | undefined {
  if (binDir() === undefined) return 'no initdb under /usr/lib/postgresql/*/bin'
  if (process.platform !== 'linux') return 'the throwaway cluster helper runs on Linux only'
  if (process.getuid?.() !== 0) return 'starting a throwaway cluster as the postgres user needs root (runuser)'
  const user = spawnSync('id', ['-u', POSTGRES_USER], { encoding: 'utf8' })
  if (user.status !== 0) return `no "${POSTGRES_USER}" OS user to run initdb as`
  return undefined
}

function asPostgres (command: string, args: string[]): string {
  return execFileSync('runuser', ['-u', POSTGRES_USER, '--', command, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

/** Every descendant of `pid`, from /proc (children of children too). */
function descendants (pid: number): number[] {
  const parents = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // The command may contain spaces and parentheses: the fields after the last ')' are fixed.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      const list = parents.get(ppid) ?? []
      list.push(Number(entry))
      parents.set(ppid, list)
    } catch {
      // The process exited while we looked.
    }
  }
  const found: number[] = []
  const queue = [pid]
  while (queue.length > 0) {
    for (const child of parents.get(queue.shift()!) ?? []) {
      found.push(child)
      queue.push(child)
    }
  }
  return found
}

export async function startThrowawayPostgres (): Promise<ThrowawayPostgres> {
  const bin = binDir()!
  const folder = mkdtempSync(join(tmpdir(), 'fs-throwaway-pg-'))
  const uid = Number(execFileSync('id', ['-u', POSTGRES_USER], { encoding: 'utf8' }))
  const gid = Number(execFileSync('id', ['-g', POSTGRES_USER], { encoding: 'utf8' }))
  chownSync(folder, uid, gid)
  const data = join(folder, 'data')
  const port = await freePort()
  let running = false
  let frozen: number[] = []
  let destroyed = false

  const pgCtl = (args: string[]) => asPostgres(join(bin, 'pg_ctl'), ['-D', data, ...args])
  const start = (): void => {
    pgCtl(['start', '-w', '-t', '30', '-l', join(folder, 'server.log'), '-o',
      `-c listen_addresses=127.0.0.1 -p ${port} -c unix_socket_directories=${folder} -c fsync=off -c max_connections=60`])
    running = true
  }
  const postmaster = (): number | undefined => {
    try {
      return Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0])
    } catch {
      return undefined
    }
  }
  const pids = (): number[] => {
    const pid = postmaster()
    return pid === undefined ? [] : [pid, ...descendants(pid)]
  }
  const thaw = (): void => {
    for (const pid of frozen) {
      try { process.kill(pid, 'SIGCONT') } catch {}
    }
    frozen = []
  }
  const stop = (): void => {
    thaw() // a stopped process would not act on the shutdown signal
    if (!running) return
    pgCtl(['stop', '-m', 'immediate', '-w', '-t', '30'])
    running = false
  }
  const destroy = (): void => {
    if (destroyed) return
    destroyed = true
    process.removeListener('exit', destroy)
    for (const signal of SIGNALS) process.removeListener(signal, onSignal)
    try {
      stop()
    } finally {
      rmSync(folder, { recursive: true, force: true })
    }
  }
  // Killed (tap's timeout sends SIGTERM): clean up, then die of the same signal.
  const onSignal = (signal: NodeJS.Signals): void => {
    destroy()
    process.kill(process.pid, signal)
  }
  process.on('exit', destroy)
  for (const signal of SIGNALS) process.once(signal, onSignal)

  try {
    asPostgres(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', POSTGRES_USER, '--no-sync', '-E', 'UTF8', '--no-instructions'])
    start()
  } catch (err) {
    destroy()
    const stderr = (err as { stderr?: string }).stderr
    throw new Error(`throwaway Postgres did not start: ${stderr ?? (err as Error).message}`, { cause: err })
  }

  return {
    connectionString: `postgres://${POSTGRES_USER}@127.0.0.1:${port}/postgres`,
    port,
    pids,
    freeze: () => {
      // The postmaster first, so it forks nothing new while we stop its children.
      const pid = postmaster()
      if (pid === undefined) return []
      process.kill(pid, 'SIGSTOP')
      frozen.push(pid)
      for (const child of descendants(pid)) {
        try {
          process.kill(child, 'SIGSTOP')
          frozen.push(child)
        } catch {}
      }
      return [...frozen]
    },
    thaw,
    stop,
    start,
    destroy
  }
}
