/** What the route files share: the options the plugin registers the routes with, and the typed instance. */
import type {
  FastifyBaseLogger, FastifyInstance, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault
} from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Registry } from 'prom-client'
import type { SchedulerApi } from '../plugin/types.js'
import type { ClaimOnce, ResolvedAuth } from './auth/index.js'

export interface ScheduleRoutesOptions {
  /** The plugin's scheduler, with `idleTick()`: the trigger's fast path for an idle ping. */
  scheduler: SchedulerApi & { idleTick: () => string | undefined }
  /** From `resolveAuth()`, called by the plugin at registration. */
  auth: ResolvedAuth
  /** The store's `claimOnce` once the store is open, for the jti of QStash signatures; required with `auth.qstash`. */
  claimOnce?: ClaimOnce
  allowGetTrigger: boolean
  /** How long the trigger waits for runs before answering 202. */
  maxWaitMs: number
  /** Largest payload of a forced run, in bytes of JSON (the trigger's body limit grows by it). */
  maxPayloadSize: number
  /** Health answers 503 when the last tick is older than this. */
  expectTickEveryMs: number
  /** Serve the dashboard page at `<prefix>/ui`. */
  ui: boolean
  /** Serve `<prefix>/metrics` from this registry, behind auth unless `auth` is false; undefined: no route. */
  metrics: { registry: Registry, auth: boolean } | undefined
}

export type ScheduleApp = FastifyInstance<
  RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider
>
