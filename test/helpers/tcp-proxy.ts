/**
 * A userspace TCP proxy for network faults that send no reset: `blackhole()` stops
 * forwarding both ways but keeps every socket open (the client sees silence, as when a
 * host vanishes behind a firewall that drops packets), `heal()` forwards again (what was
 * held is delivered, as TCP retransmission would), and `repoint(upstream)` sends new
 * connections to another upstream while the old ones stay as they are (a DNS name moved
 * to a new host; the old host stays black-holed). Only sockets this proxy opened are touched.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'
import type { Test } from 'tap'

export interface Upstream { host: string, port: number }

interface Pair { client: Socket, upstream: Socket, held: boolean }

export class TcpProxy {
  /** The port the proxy listens on (127.0.0.1), once `listen()` resolved. */
  port = 0
  #upstream: Upstream
  #holding = false
  #accepted = 0
  readonly #pairs = new Set<Pair>()
  readonly #server: Server

  constructor ({ upstream }: { upstream: Upstream }) {
    this.#upstream = upstream
    this.#server = createServer((client) => this.#accept(client))
  }

  /** How many connections the proxy has accepted so far. */
  get accepted (): number {
    return this.#accepted
  }

  /** How many connections the proxy has open now. */
  get connections (): number {
    return this.#pairs.size
  }

  async listen (): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen(0, '127.0.0.1', () => resolve())
    })
    this.port = (this.#server.address() as { port: number }).port
  }

  /** Stop forwarding, both ways, on every connection and on new ones; nothing is closed. */
  blackhole (): void {
    this.#holding = true
    for (const pair of this.#pairs) this.#hold(pair)
  }

  /** Forward again on every connection, held data included. */
  heal (): void {
    this.#holding = false
    for (const pair of this.#pairs) this.#release(pair)
  }

  /** New connections go to `upstream` and are forwarded; existing ones stay as they are. */
  repoint (upstream: Upstream): void {
    this.#upstream = upstream
    this.#holding = false
  }

  /** Destroy every connection and stop listening. Idempotent. */
  async close (): Promise<void> {
    for (const pair of this.#pairs) {
      pair.client.destroy()
      pair.upstream.destroy()
    }
    this.#pairs.clear()
    if (!this.#server.listening) return
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  #accept (client: Socket): void {
    this.#accepted++
    const upstream = connect(this.#upstream.port, this.#upstream.host)
    const pair: Pair = { client, upstream, held: false }
    this.#pairs.add(pair)
    const drop = () => {
      client.destroy()
      upstream.destroy()
      this.#pairs.delete(pair)
    }
    for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
      // By hand rather than pipe(): pipe() resumes a paused source on drain, which would leak through a black hole.
      from.on('data', (chunk) => to.write(chunk))
      from.on('end', () => to.end())
      from.on('error', drop)
      from.on('close', drop)
    }
    if (this.#holding) this.#hold(pair)
  }

  #hold (pair: Pair): void {
    pair.held = true
    pair.client.pause()
    pair.upstream.pause()
  }

  #release (pair: Pair): void {
    if (!pair.held) return
    pair.held = false
    pair.client.resume()
    pair.upstream.resume()
  }
}

/** A listening proxy in front of `127.0.0.1:upstreamPort`, closed when `t` ends. */
export async function tcpProxy (t: Test, upstreamPort: number): Promise<TcpProxy> {
  const proxy = new TcpProxy({ upstream: { host: '127.0.0.1', port: upstreamPort } })
  await proxy.listen()
  t.teardown(() => proxy.close())
  return proxy
}
