/**
 * Outages on demand, for the tests that check "the store is down, nothing runs, then it
 * recovers by itself": a throwaway redis-server to kill and restart, and a TCP proxy in
 * front of the real PostgreSQL to cut and restore.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import { postgresUrl } from './services.js'

/** A throwaway redis-server on `port`, without persistence, ready to accept connections. */
export async function startRedisServer (port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'inherit'] })
  let output = ''
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output}`)))
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk
      if (output.includes('Ready to accept connections')) resolve()
    })
  })
  child.removeAllListeners('exit')
  return child
}

export async function stopRedisServer (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  await exited
}

/** Retry `fn` until it succeeds or `withinMs` passes (waiting for a real reconnect, not faking time). */
export async function eventually<T> (fn: () => Promise<T>, withinMs: number): Promise<T> {
  const deadline = performance.now() + withinMs
  for (;;) {
    try {
      return await fn()
    } catch (err) {
      if (performance.now() > deadline) throw err
      await delay(50)
    }
  }
}

/** A TCP proxy to the real Postgres that the test can cut (closing every connection) and restore. */
export async function postgresProxy (port: number): Promise<{ connectionString: string, cut: () => Promise<void>, restore: () => Promise<void> }> {
  const target = new URL(postgresUrl())
  const sockets = new Set<Socket>()
  let server: Server | undefined
  const restore = async (): Promise<void> => {
    server = createServer((client) => {
      const upstream = connect(Number(target.port || 5432), target.hostname)
      for (const socket of [client, upstream]) {
        sockets.add(socket)
        socket.on('close', () => sockets.delete(socket))
        socket.on('error', () => { client.destroy(); upstream.destroy() })
      }
      client.pipe(upstream).pipe(client)
    })
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve))
  }
  const cut = async (): Promise<void> => {
    const closed = new Promise<void>((resolve) => server!.close(() => resolve()))
    for (const socket of sockets) socket.destroy()
    await closed
  }
  await restore()
  const url = new URL(postgresUrl())
  url.hostname = '127.0.0.1'
  url.port = String(port)
  return { connectionString: url.toString(), cut, restore }
}
