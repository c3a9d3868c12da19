/** Every minute, says hi: the smallest task there is (object form). */
import { defineTask } from '../../index.js'

export default defineTask({
  runEveryMinute: true,
  async handle ({ log }) {
    log.info('Hi!')
  }
})
