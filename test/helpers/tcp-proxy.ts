/**
 * A userspace TCP proxy for fault tests: clients connect to it, it connects to the current
 * upstream and forwards both ways. It can black-hole an upstream (stop forwarding both ways
 * but keep every socket open: no RST, no FIN, as a host that vanished from the network),
 * heal it, and repoint new connections to another upstream (a DNS name moved to a new host;
 * connections already open stay with the old one). The teardown of `t` closes everything.
 */
import { createServer, connect, type Server, type Socket } from 'node:net'
import type { Test } from 'tap'

export interface TcpProxy {
  /** The port clients connect to. */
  port: number
  /** Stop forwarding to and from the current upstream, keeping the sockets open. */
  blackhole: () => void
  /** Forward again, for every upstream. */
  heal: () => void
  /** New connections go to `port` from now on (connections already open keep their upstream). */
  repoint: (port: number) => void
  /** Connections accepted so far. */
  accepted: () => number
}

/** Start a proxy on a free port in front of `127.0.0.1:upstreamPort`. */
export async function tcpProxy (t: Test, upstreamPort: number): Promise<TcpProxy> {
  let upstream = upstreamPort
  let accepted = 0
  const holed = new Set<number>()
  const sockets = new Set<Socket>()
  const track = (socket: Socket): void => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    // A peer going away is part of the tests; an error on one side closes the other.
    socket.on('error', () => {})
  }
  const server: Server = createServer((client) => {
    accepted++
    const target = upstream
    const server = connect(target, '127.0.0.1')
    track(client)
    track(server)
    // Data in a black hole is dropped, not buffered: it never arrives, as on a dead route.
    client.on('data', (chunk) => { if (!holed.has(target)) server.write(chunk) })
    server.on('data', (chunk) => { if (!holed.has(target)) client.write(chunk) })
    client.on('close', () => server.destroy())
    server.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return {
    port: (server.address() as { port: number }).port,
    blackhole: () => { holed.add(upstream) },
    heal: () => { holed.clear() },
    repoint: (port) => { upstream = port },
    accepted: () => accepted
  }
}
