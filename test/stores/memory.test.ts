import t from 'tap'
import { memoryStore } from '../../plugin/stores/memory.js'
import { storeConformance } from './conformance.js'

t.test('memory store says what it is', async (t) => {
  const store = memoryStore()
  t.equal(store.kind, 'memory')
  t.equal(store.durable, false, 'state is lost with the process')
})

storeConformance(t, 'memory', async () => memoryStore())
