/**
 * Keep the app module from starting a server while the CLI loads it.
 *
 * The CLI boots the app and never serves it. A script that calls `listen()` when imported
 * (the usual `server.ts`, or an `app.ts` written as one) would bind the port, and the
 * command would then fail or hang with a server running. While the guard is up, every
 * `net.Server#listen` (http, https and http2 servers all inherit it) is refused: nothing
 * binds, the call never completes, and the CLI is told at once. Fastify publishes every
 * instance it creates on the `fastify.initialization` channel, so the instances the module
 * built can be closed afterwards, whatever copy of Fastify it imported.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { Server } from 'node:net'
import type { FastifyInstance } from 'fastify'

const FASTIFY_CREATED = 'fastify.initialization'

export interface ListenGuard {
  /** Resolves when something called `listen()` while the guard was up (it never rejects). */
  readonly attempted: Promise<void>
  /** Whether `listen()` was called while the guard was up. */
  readonly listenCalled: boolean
  /** Every Fastify instance created while the guard was up, oldest first. */
  readonly instances: readonly FastifyInstance[]
  /** Restore `listen()` and stop collecting instances; safe to call twice. */
  release (): void
}

/** Refuse `listen()` and collect Fastify instances until `release()`. */
export function guardListen (): ListenGuard {
  const original = Server.prototype.listen
  const instances: FastifyInstance[] = []
  let listenCalled = false
  let signal!: () => void
  const attempted = new Promise<void>(resolve => { signal = resolve })
  const onCreated = (message: unknown): void => {
    const fastify = (message as { fastify?: FastifyInstance }).fastify
    if (fastify !== undefined) instances.push(fastify)
  }
  // Refused, not failed: an error would reach the script's own handler, often process.exit(1).
  Server.prototype.listen = function refusedListen (this: Server) {
    listenCalled = true
    signal()
    return this
  } as typeof Server.prototype.listen
  subscribe(FASTIFY_CREATED, onCreated)
  let released = false
  return {
    attempted,
    get listenCalled () { return listenCalled },
    instances,
    release () {
      if (released) return
      released = true
      Server.prototype.listen = original
      unsubscribe(FASTIFY_CREATED, onCreated)
    }
  }
}
