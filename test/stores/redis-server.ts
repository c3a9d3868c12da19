/**
 * Throwaway redis-server processes for the Redis store's fault tests: each on a free port,
 * with the persistence the test asks for, started by the test and SIGKILLed in its teardown
 * (never the shared server on 6379).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { freePort } from '../helpers/services.js'

/** Why no redis-server can be started here, or undefined when one can. */
export function whyNoRedisServer (): string | undefined {
  return spawnSync('redis-server', ['--version']).error === undefined
    ? undefined
    : 'redis-server is not on PATH; the fault tests start and kill their own (install redis-server)'
}

export interface OwnRedis {
  port: number
  url: string
  /** SIGKILL the server (no shutdown save) and wait until it is gone. */
  kill: () => Promise<void>
  /** Start a new, empty server on the same port and directory (the old one must be killed). */
  restart: () => Promise<void>
  /** SIGSTOP (true) or SIGCONT (false) the server: it keeps its connections but answers nothing. */
  freeze: (frozen: boolean) => void
}

/**
 * Start a redis-server on `port` (default: a free one) with `args` (e.g. `['--save', '',
 * '--appendonly', 'no']`), in a temporary directory of its own; the teardown of `t` kills it
 * and removes the directory.
 */
export async function ownRedis (t: Test, args: readonly string[], port?: number): Promise<OwnRedis> {
  port ??= await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'fastify-scheduler-redis-'))
  let child: ChildProcess | undefined
  const kill = async (): Promise<void> => {
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  }
  const restart = async (): Promise<void> => {
    await kill()
    child = await spawnRedis(['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--daemonize', 'no', ...args])
  }
  const freeze = (frozen: boolean): void => { child?.kill(frozen ? 'SIGSTOP' : 'SIGCONT') }
  t.teardown(async () => {
    await kill()
    rmSync(dir, { recursive: true, force: true })
  })
  await restart()
  return { port, url: `redis://127.0.0.1:${port}`, kill, restart, freeze }
}

async function spawnRedis (args: string[]): Promise<ChildProcess> {
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`redis-server ${args.join(' ')} exited with ${code}: ${output}`)))
    const collect = (chunk: string): void => {
      output += chunk
      if (output.includes('Ready to accept connections')) resolve()
    }
    child.stdout!.setEncoding('utf8').on('data', collect)
    child.stderr!.setEncoding('utf8').on('data', collect)
  })
  child.removeAllListeners('exit')
  // Keep draining its output so the server never blocks on a full pipe.
  child.stdout!.resume()
  child.stderr!.resume()
  return child
}
