import { Redis } from 'ioredis'
import t from 'tap'
import { redisStore } from '../../plugin/stores/redis.js'
import { deleteRedisKeys, needs, probeRedis, redisUrl, uniqueRedisPrefix } from '../helpers/services.js'
import { storeConformance } from './conformance.js'

const skip = needs(await probeRedis())

t.test('redis store', skip, async (t) => {
  const admin = new Redis(redisUrl())
  const prefixes: string[] = []
  t.teardown(async () => {
    for (const prefix of prefixes) await deleteRedisKeys(admin, prefix)
    await admin.quit()
  })
  storeConformance(t, 'redis', async () => {
    const prefix = uniqueRedisPrefix()
    prefixes.push(prefix)
    return redisStore({ url: redisUrl(), prefix })
  })
})
