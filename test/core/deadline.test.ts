/** withDeadline: the work's outcome when it settles first, the fallback when the timer does, and no timer left behind. */
import t from 'tap'
import { TIMED_OUT, withDeadline } from '../../core/deadline.js'

const never = new Promise<never>(() => {})

t.test('work that settles first gives its value or its rejection, and clears the timer', async t => {
  const before = process.getActiveResourcesInfo().filter(kind => kind === 'Timeout').length
  t.equal(await withDeadline(Promise.resolve(7), 60_000), 7)
  await t.rejects(withDeadline(Promise.reject(new Error('broke')), 60_000), { message: 'broke' })
  t.equal(process.getActiveResourcesInfo().filter(kind => kind === 'Timeout').length, before, 'no timer left pending')
})

t.test('a function is called, and its synchronous throw becomes the rejection', async t => {
  t.equal(await withDeadline(() => 'sync value', 60_000), 'sync value')
  await t.rejects(withDeadline(() => { throw new Error('thrown at once') }, 60_000), { message: 'thrown at once' })
})

t.test('the deadline passing first gives TIMED_OUT, or what onTimeout returns or throws', async t => {
  t.equal(await withDeadline(never, 0), TIMED_OUT)
  t.equal(await withDeadline(never, 0, { onTimeout: () => undefined }), undefined)
  await t.rejects(withDeadline(never, 0, { onTimeout: () => { throw new RangeError('too slow') } }), RangeError)
})

t.test('work rejecting after the deadline is not an unhandled rejection', async t => {
  let fail: (err: Error) => void = () => {}
  const late = new Promise<never>((_resolve, reject) => { fail = reject })
  t.equal(await withDeadline(late, 0), TIMED_OUT)
  const unhandled: unknown[] = []
  const listener = (reason: unknown): void => { unhandled.push(reason) }
  process.on('unhandledRejection', listener)
  t.teardown(() => { process.off('unhandledRejection', listener) })
  fail(new Error('too late'))
  await new Promise(resolve => setImmediate(resolve))
  t.same(unhandled, [])
})

t.test('unref: a pending deadline with unref does not hold the process; a plain one does until it settles', async t => {
  const timers = (): number => process.getActiveResourcesInfo().filter(kind => kind === 'Timeout').length
  let finish: (value: string) => void = () => {}
  const work = new Promise<string>(resolve => { finish = resolve })
  const before = timers()
  const held = withDeadline(work, 60_000)
  t.equal(timers(), before + 1, 'the plain deadline keeps the loop alive')
  const unrefd = withDeadline(work, 60_000, { unref: true })
  t.equal(timers(), before + 1, 'the unref\'d one does not')
  finish('done')
  t.same(await Promise.all([held, unrefd]), ['done', 'done'])
  t.equal(timers(), before, 'both timers cleared')
})
