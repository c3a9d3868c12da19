import t from 'tap'
import { requireDriver, withStoreErrors } from '../../plugin/stores/driver.js'

t.test('a driver failure becomes the coded store error, keeping the cause', async (t) => {
  const cause = new Error('connect ECONNREFUSED 127.0.0.1:5432')
  const err = await withStoreErrors(() => { throw cause }).catch((e: Error) => e)
  t.match(err, { code: 'FST_SCHEDULER_STORE_UNAVAILABLE', statusCode: 503, message: /ECONNREFUSED 127\.0\.0\.1:5432$/ })
  t.equal(err.cause, cause)
})

t.test('a refused connection to several addresses (an AggregateError without message) says what each met', async (t) => {
  const refused = new AggregateError([
    new Error('connect ECONNREFUSED ::1:5432'), new Error('connect ECONNREFUSED 127.0.0.1:5432')
  ])
  await t.rejects(withStoreErrors(async () => { throw refused }), {
    code: 'FST_SCHEDULER_STORE_UNAVAILABLE',
    message: /: connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127\.0\.0\.1:5432$/
  })
})

t.test('results pass through untouched', async (t) => {
  t.equal(await withStoreErrors(() => 42), 42)
})

t.test('a missing optional driver names the package to install', async (t) => {
  t.throws(() => requireDriver('ioredis-not-installed' as 'ioredis', 'redisStore'), {
    code: 'FST_SCHEDULER_INVALID_OPTION',
    message: /redisStore needs the "ioredis-not-installed" package: npm install ioredis-not-installed/
  })
  t.type(requireDriver<{ Pool: unknown }>('pg', 'postgresStore').Pool, 'function')
})
