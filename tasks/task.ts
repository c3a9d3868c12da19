/**
 * The two ways to write a task (docs/ARCHITECTURE.md#tasks): a class extending `Task`, or `defineTask({ ... })`.
 */
import type { FastifyInstance, PayloadOf, TaskContext, TaskObject } from './types.js'

/** Marks objects made by `defineTask`, so discovery can tell a task from any other export. */
export const TASK_BRAND: unique symbol = Symbol.for('fastify-scheduler.task') as never

/**
 * Base class of the class form. Subclasses receive the Fastify instance (the container).
 *
 * @example
 * ```ts
 * // tasks/say-hi.ts
 * import { Task, type TaskContext } from 'fastify-scheduler'
 * import type { FastifyInstance } from 'fastify'
 *
 * export default class SayHi extends Task {
 *   runEvery = '3 days'
 *   runAt = '17:00'
 *   constructor (private readonly app: FastifyInstance) { super() }
 *   async handle (ctx: TaskContext) {
 *     await this.app.mail.send({ to: 'team@example.com', subject: 'Hi', text: `run ${ctx.runId}` })
 *   }
 * }
 * ```
 *
 * The options (`runEvery`, `runAt`, `runEveryHour`, `runEveryMinute`, `twiceDaily`, `cron`,
 * `name`, `timezone`, `timeout`, `catchUp`, `overlap`, `enabled`; see `TaskOptions`)
 * are deliberately not declared here. TypeScript does not type a subclass's field initializer
 * from its base class, so declaring them would check nothing (`runEvery = '3 dayz'` is just a
 * `string`), and under `noImplicitOverride` (this repository's setting, common in strict
 * projects) every declared option would have to be written `override runEvery = ...`,
 * breaking the form above. Instead the boot checks every value, and every own property that
 * looks like a misspelt option (`run_every`, `timout`); the object form (`defineTask`) gets
 * compile-time checks as well.
 */
export abstract class Task {
  /**
   * Types only (nothing is emitted): makes `Task` nominal, so an object literal is checked as
   * the object form (`TaskObject`, where `runEvery: '3 dayz'` is an error) and never passes
   * as a Task instance just because it has a `handle`.
   */
  declare private readonly taskInstance: true

  /** The task's work. Its promise is awaited; `ctx.signal` fires on timeout or shutdown. */
  abstract handle (ctx: TaskContext): unknown
}

/** The class form as a value: a subclass of `Task`, constructed with the Fastify instance. */
export type TaskClass = new (app: FastifyInstance) => Task

/**
 * The type an unknown key of a task object must have, which no value has: `tsc` names it in
 * the error, so the message carries the property's name, on the property's line, as an
 * excess-property check would (`Type 'string' is not assignable to type
 * 'UnknownTaskProperty<"runEvry">'`). The boot says the same with a did-you-mean.
 */
export interface UnknownTaskProperty<K extends PropertyKey> {
  /** Not on any value a task would hold. */
  readonly 'is not a task property': K
}

/** Keys of `T` that a task object does not have, mapped to `UnknownTaskProperty<key>` (so they fail to type-check, naming the key). */
export type NoExtraKeys<T> = { readonly [K in Exclude<keyof T, keyof TaskObject>]: UnknownTaskProperty<K> }

/**
 * The object form: returns `def` itself, branded for discovery. Unknown keys and malformed
 * `runEvery`/`runAt` strings are type errors; the boot checks everything again at runtime.
 *
 * @example
 * ```ts
 * // tasks/prune.ts
 * import { defineTask } from 'fastify-scheduler'
 *
 * export default defineTask({
 *   runEveryMinute: true,
 *   timeout: '30 seconds',
 *   async handle ({ app, log, signal }) {
 *     const { count } = await app.db.prune({ signal })
 *     log.info({ count }, 'pruned')
 *   }
 * })
 *
 * // With a payload schema, ctx.payload is typed from it (docs/PAYLOADS.md#payloads):
 * export const refund = defineTask({
 *   payload: Type.Object({ orderId: Type.String() }),
 *   handle ({ payload }) { if (payload !== undefined) console.log(payload.orderId) }
 * })
 * ```
 */
export function defineTask<const S = undefined, const T extends TaskObject<PayloadOf<S>> = TaskObject<PayloadOf<S>>> (
  def: T & { payload?: S } & NoExtraKeys<T>
): T {
  // A frozen object cannot take the brand; a shallow copy keeps its properties.
  const task: T = Object.isExtensible(def) ? def : { ...def }
  Object.defineProperty(task, TASK_BRAND, { value: true, enumerable: false })
  return task
}

/** True for objects returned by `defineTask`. */
export function isDefinedTask (value: unknown): boolean {
  return value !== null && typeof value === 'object' && (value as Record<symbol, unknown>)[TASK_BRAND] === true
}
