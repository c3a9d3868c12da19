/**
 * Every 3 days at 17:00, asks the billing service about every subscriber and stores the
 * answer in `billed_status` (class form). The requests carry the run's `signal`, so a
 * timeout or a shutdown aborts them. The service's URL is `app.config.billingUrl` if set
 * (`BILLING_API_URL`), else this app's own stand-in `/billing-api` on its listening address.
 */
import { Task, type FastifyInstance, type TaskContext } from '../../index.js'
import type { Subscriber } from '../plugins/db.js'

export default class SyncSubscribers extends Task {
  runEvery = '3 days'
  runAt = '17:00'
  timeout = '5 minutes'

  constructor (private readonly app: FastifyInstance) {
    super()
  }

  async handle ({ signal, log }: TaskContext): Promise<void> {
    const base = this.billingUrl()
    const subscribers = this.app.db.prepare('SELECT * FROM subscribers ORDER BY id').all() as Subscriber[]
    const update = this.app.db.prepare('UPDATE subscribers SET billed_status = ? WHERE id = ?')
    let changed = 0
    for (const subscriber of subscribers) {
      const status = await this.fetchStatus(base, subscriber.email, signal)
      if (status !== subscriber.billed_status) {
        update.run(status, subscriber.id)
        changed++
      }
    }
    log.info({ checked: subscribers.length, changed, billingUrl: base }, 'subscribers synced with billing')
  }

  private billingUrl (): string {
    const configured = this.app.config.billingUrl
    if (configured !== undefined) return configured.replace(/\/+$/, '')
    const origin = this.app.server.listening ? this.app.listeningOrigin : `http://127.0.0.1:${process.env.PORT ?? 3000}`
    return `${origin}/billing-api`
  }

  private async fetchStatus (base: string, email: string, signal: AbortSignal): Promise<string> {
    const url = `${base}/status?email=${encodeURIComponent(email)}`
    const response = await fetch(url, { signal, headers: { accept: 'application/json' } })
    if (!response.ok) throw new Error(`billing API ${base}/status answered ${response.status} for ${email}`)
    const body = await response.json() as { status?: unknown }
    if (typeof body.status !== 'string') throw new Error(`billing API ${base}/status answered without a status for ${email}`)
    return body.status
  }
}
