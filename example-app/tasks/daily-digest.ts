/**
 * Daily at 17:00, mails the team a digest of the subscribers who signed up since the
 * digest's last successful run (class form: the constructor receives the app, whose
 * `mail` and `db` decorators it uses). No new subscribers, no mail.
 */
import { Task, type FastifyInstance, type TaskContext } from '../../index.js'
import type { Subscriber } from '../plugins/db.js'

const DAY = 24 * 60 * 60 * 1000

export default class DailyDigest extends Task {
  runAt = '17:00'

  constructor (private readonly app: FastifyInstance) {
    super()
  }

  async handle ({ task, scheduledFor, log }: TaskContext): Promise<void> {
    const until = scheduledFor.getTime()
    const since = await this.lastDigestAt(task) ?? until - DAY
    const newcomers = this.app.db
      .prepare('SELECT * FROM subscribers WHERE created_at > ? AND created_at <= ? ORDER BY created_at, id')
      .all(since, until) as Subscriber[]
    if (newcomers.length === 0) {
      log.info({ since: new Date(since) }, 'no new subscribers: no digest sent')
      return
    }
    const lines = newcomers.map(row => `- ${row.email} (${new Date(row.created_at).toISOString()})`)
    const { file } = await this.app.mail.send({
      to: this.app.config.digestTo,
      subject: `Daily digest: ${newcomers.length} new subscriber${newcomers.length === 1 ? '' : 's'}`,
      text: `New since ${new Date(since).toISOString()}:\n\n${lines.join('\n')}\n`
    })
    log.info({ newcomers: newcomers.length, file }, 'digest sent')
  }

  /** The occurrence of the last digest that went out, from the run history. */
  private async lastDigestAt (task: string): Promise<number | undefined> {
    const { runs } = await this.app.scheduler.history({ task: [task], status: ['succeeded'], limit: 1 })
    return runs[0]?.scheduledFor.getTime()
  }
}
