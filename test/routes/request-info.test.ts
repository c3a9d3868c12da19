/** What a task sees of the triggering request: never a credential. */
import t from 'tap'
import Fastify from 'fastify'
import { redactUrl, requestInfo } from '../../routes/request-info.js'
import type { TaskRequestInfo } from '../../tasks/types.js'

t.test('redactUrl drops secret query parameters and keeps the rest', async t => {
  t.equal(redactUrl('/_schedule/run'), '/_schedule/run')
  t.equal(redactUrl('/_schedule/run?task=a&force=1'), '/_schedule/run?task=a&force=1', 'untouched when nothing is secret')
  t.equal(redactUrl('/_schedule/run?token=s3cret'), '/_schedule/run')
  t.equal(redactUrl('/_schedule/run?task=a&token=s3cret&force=1'), '/_schedule/run?task=a&force=1')
  t.equal(redactUrl('/x?TOKEN=1&Access_Token=2&key=3&secret=4&password=5&signature=6&api_key=7&keep=8'), '/x?keep=8')
  t.equal(redactUrl('/x?token=a&token=b'), '/x', 'every repeat')
  t.equal(redactUrl(redactUrl('/x?a=1&token=2')), '/x?a=1', 'idempotent')
  t.equal(redactUrl('/x?tokens=1&mytoken=2'), '/x?tokens=1&mytoken=2', 'only exact parameter names')
})

t.test('requestInfo gives id, ip, method, url and headers without credentials', async t => {
  const app = Fastify()
  let seen: TaskRequestInfo | undefined
  app.post('/hook', async (request) => {
    seen = requestInfo(request)
    return {}
  })
  await app.inject({
    method: 'POST',
    url: '/hook?source=cron&token=abcdefghijklmnopq&access_token=zzz',
    headers: {
      authorization: 'Bearer abcdefghijklmnopq',
      'proxy-authorization': 'Basic eDp5',
      cookie: 'session=1',
      'x-api-key': 'k',
      'x-auth-token': 't',
      'x-webhook-secret': 's',
      'user-agent': 'cron-pinger/1.0',
      'x-request-source': 'crontab'
    }
  })
  if (seen === undefined) return t.fail('route not called')
  t.equal(seen.method, 'POST')
  t.equal(seen.url, '/hook?source=cron')
  t.equal(seen.ip, '127.0.0.1')
  t.type(seen.id, 'string')
  t.equal(seen.headers['user-agent'], 'cron-pinger/1.0')
  t.equal(seen.headers['x-request-source'], 'crontab')
  for (const name of ['authorization', 'proxy-authorization', 'cookie', 'x-api-key', 'x-auth-token', 'x-webhook-secret']) {
    t.notOk(name in seen.headers, `${name} is removed`)
  }
  t.notOk(JSON.stringify(seen).includes('abcdefghijklmnopq'), 'the token appears nowhere')
})
