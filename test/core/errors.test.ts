/** isSchedulerError: every coded error of core/errors.ts, and nothing that only looks like one. */
import t from 'tap'
import * as errors from '../../core/errors.js'

/** Every error class core/errors.ts exports, by name. */
const classes = Object.entries(errors).filter(([name]) => /^[A-Z]\w*Error$/.test(name)) as Array<[string, new (...args: string[]) => Error & { code: string }]>

t.test('every error class the module exports is recognised, and nothing else', async t => {
  t.ok(classes.length >= 19, `${classes.length} error classes`)
  for (const [name, ErrorClass] of classes) {
    const err = new ErrorClass('x', 'y', 'z')
    t.match(err.code, /^FST_SCHEDULER_[A-Z_]+$/, `${name} has its code`)
    t.ok(errors.isSchedulerError(err), `${name} is a scheduler error`)
  }
  t.ok(errors.isSchedulerError(errors.storeUnavailable(new Error('socket closed'))), 'a wrapped driver error')
  const lookalike = Object.assign(new Error('claim not acknowledged'), { code: 'FST_SCHEDULER_STORE_UNAVAILABLE' })
  t.notOk(errors.isSchedulerError(lookalike), 'a plain Error carrying the code string is not one')
  t.notOk(errors.isSchedulerError(undefined))
  t.notOk(errors.isSchedulerError('FST_SCHEDULER_CLOSED'))
})

t.test('the package root exports every error class, so an app compares by class', async t => {
  const root = await import('../../index.js') as Record<string, unknown>
  for (const [name, ErrorClass] of classes) {
    t.equal(root[name], ErrorClass, `fastify-scheduler exports ${name}`)
  }
})
