/**
 * `fastify-scheduler/testing`: the store conformance suite, for anyone writing a store.
 * Each case is a plain async function that throws on a violation, so it runs under any test
 * runner (node:test, tap, vitest, jest, mocha).
 *
 * @example
 * import { test } from 'node:test'
 * import { storeConformanceCases } from 'fastify-scheduler/testing'
 * import { myStore } from './my-store.js'
 *
 * for (const c of storeConformanceCases(() => myStore({ prefix: crypto.randomUUID() }))) {
 *   test(c.name, c.run)
 * }
 */
export { storeConformanceCases, sampleRun, T0, type ConformanceCase } from './plugin/stores/conformance.js'
