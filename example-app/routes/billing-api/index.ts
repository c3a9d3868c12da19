/**
 * `GET /billing-api/status?email=`: a stand-in for the outside billing service the
 * sync-subscribers task calls over HTTP. Its answers are fixed by the address, so the demo
 * and the tests can predict them: a local part containing `+late` is `past_due`, `+gone` is
 * `cancelled`, anything else `active`.
 */
import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'

export const BillingStatus = Type.Union([Type.Literal('active'), Type.Literal('past_due'), Type.Literal('cancelled')])
// eslint-disable-next-line @typescript-eslint/no-redeclare -- TypeBox's idiom: the schema and its type share a name
export type BillingStatus = 'active' | 'past_due' | 'cancelled'

export function billingStatusOf (email: string): BillingStatus {
  const local = email.split('@')[0] ?? ''
  if (local.includes('+late')) return 'past_due'
  if (local.includes('+gone')) return 'cancelled'
  return 'active'
}

const billingApi: FastifyPluginAsync = async (instance) => {
  const app = instance.withTypeProvider<TypeBoxTypeProvider>()
  app.get('/status', {
    schema: {
      querystring: Type.Object({ email: Type.String({ minLength: 3, maxLength: 254 }) }),
      response: { 200: Type.Object({ email: Type.String(), status: BillingStatus }) }
    }
  }, async (request) => ({ email: request.query.email, status: billingStatusOf(request.query.email) }))
}

export default billingApi
