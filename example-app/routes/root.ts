/** `GET /`: what this example app is and where to look. */
import type { FastifyPluginAsync } from 'fastify'

const root: FastifyPluginAsync = async (app) => {
  app.get('/', async () => ({
    app: 'fastify-scheduler example',
    tasks: app.scheduler.taskNames,
    see: {
      schedule: 'GET /_schedule (Authorization: Bearer <token>)',
      trigger: 'POST /_schedule/run',
      health: 'GET /_schedule/health',
      subscribers: 'GET /subscribers'
    }
  }))
}

export default root
