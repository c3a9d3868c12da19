import pg from 'pg'
import t from 'tap'
import { postgresStore } from '../../plugin/stores/postgres.js'
import { createSchema, needs, postgresUrl, probePostgres } from '../helpers/services.js'
import { storeConformance } from './conformance.js'

const skip = needs(await probePostgres())

t.test('postgres store', skip, async (t) => {
  const admin = new pg.Pool({ connectionString: postgresUrl(), max: 2 })
  const drops: Array<() => Promise<void>> = []
  t.teardown(async () => {
    for (const drop of drops) await drop()
    await admin.end()
  })
  storeConformance(t, 'postgres', async () => {
    const { schema, drop } = await createSchema(admin)
    drops.push(drop)
    return postgresStore({ connectionString: postgresUrl(), schema })
  })
})
