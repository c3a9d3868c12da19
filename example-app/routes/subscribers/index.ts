/**
 * `/subscribers`: list them, add one. The daily digest mails the new ones; the billing sync
 * fills in `billed_status`.
 */
import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import type { Subscriber } from '../../plugins/db.js'

const SubscriberSchema = Type.Object({
  id: Type.Integer(),
  email: Type.String(),
  createdAt: Type.String({ description: 'ISO instant' }),
  billedStatus: Type.Union([Type.String(), Type.Null()])
})

function toJson (row: Subscriber) {
  return { id: row.id, email: row.email, createdAt: new Date(row.created_at).toISOString(), billedStatus: row.billed_status }
}

const subscribers: FastifyPluginAsync = async (instance) => {
  const app = instance.withTypeProvider<TypeBoxTypeProvider>()

  app.get('/', {
    schema: { response: { 200: Type.Object({ subscribers: Type.Array(SubscriberSchema) }) } }
  }, async () => {
    const rows = app.db.prepare('SELECT * FROM subscribers ORDER BY id').all() as Subscriber[]
    return { subscribers: rows.map(toJson) }
  })

  app.post('/', {
    schema: {
      body: Type.Object({ email: Type.String({ format: 'email', maxLength: 254 }) }, { additionalProperties: false }),
      response: { 201: SubscriberSchema, 409: Type.Object({ message: Type.String() }) }
    }
  }, async (request, reply) => {
    const { email } = request.body
    const exists = app.db.prepare('SELECT 1 FROM subscribers WHERE email = ?').get(email)
    if (exists !== undefined) return await reply.code(409).send({ message: `${email} is already subscribed` })
    const row = app.db.prepare('INSERT INTO subscribers (email, created_at) VALUES (?, ?) RETURNING *').get(email, Date.now()) as Subscriber
    return await reply.code(201).send(toJson(row))
  })
}

export default subscribers
