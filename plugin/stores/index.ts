/** The stores: one contract (`store.ts`), four implementations. */
export * from './store.js'
export { memoryStore } from './memory.js'
