/**
 * `app.mail`: nodemailer with a stream transport; every message is written as an `.eml`
 * file into the outbox folder instead of being sent, so the demo needs no mail server and
 * tests read what was "sent".
 */
import { randomUUID } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import fp from 'fastify-plugin'
import nodemailer from 'nodemailer'

export interface MailMessage {
  to: string | string[]
  subject: string
  text: string
  /** Default `scheduler@example.com`. */
  from?: string
}

export interface Mailer {
  /** Render the message and write it to the outbox; resolves to the file written. */
  send (message: MailMessage): Promise<{ messageId: string, file: string }>
  /** The outbox folder. */
  readonly outbox: string
}

declare module 'fastify' {
  interface FastifyInstance {
    mail: Mailer
  }
}

export default fp(async (app) => {
  const outbox = app.config.outboxDir
  mkdirSync(outbox, { recursive: true })
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' })

  const mailer: Mailer = {
    outbox,
    async send (message) {
      const info = await transport.sendMail({ from: 'scheduler@example.com', ...message })
      // A sortable, unique file name: the time, then a random id.
      const file = join(outbox, `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomUUID()}.eml`)
      await writeFile(file, info.message)
      app.log.info({ to: message.to, subject: message.subject, file }, 'mail written to the outbox')
      return { messageId: info.messageId, file }
    }
  }
  app.decorate('mail', mailer)
  app.addHook('onClose', async () => { transport.close() })
}, { name: 'mail', fastify: '5.x' })
