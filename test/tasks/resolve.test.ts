/**
 * Tasks (docs/ARCHITECTURE.md#tasks): both task forms, the default name, every per-task option, and the boot errors
 * that name the file, the property and what is accepted.
 */
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { isTaskLike, resolveTask, type ResolveTaskOptions } from '../../tasks/resolve.js'
import { Task, defineTask, isDefinedTask } from '../../tasks/task.js'
import type { TaskContext } from '../../tasks/types.js'

const app = Fastify()
t.teardown(async () => { await app.close() })

const warnings: string[] = []
const options = (extra: Partial<ResolveTaskOptions> = {}): ResolveTaskOptions =>
  ({ source: 'tasks/say-hi.ts', fileName: 'say-hi.ts', app, timezone: 'UTC', warn: (message) => warnings.push(message), ...extra })
/** A context for calling handle directly. */
const context = { runId: 'run-1' } as unknown as TaskContext

t.test('the class form: constructed with the app, handle called on the instance', async (t) => {
  class SayHi extends Task {
    runEvery = '3 days'
    runAt = '17:00'
    constructor (private readonly app: FastifyInstance) { super() }
    async handle (ctx: TaskContext): Promise<string> { return `${ctx.runId} ${this.app === app ? 'with app' : 'without app'}` }
  }
  const task = resolveTask(SayHi, options({ fileName: 'SayHi.ts', timezone: 'Europe/Berlin' }))
  t.equal(task.name, 'say-hi')
  t.equal(task.source, 'tasks/say-hi.ts')
  t.equal(task.schedule.describe(), 'every 3 days at 17:00 (Europe/Berlin)')
  t.equal(task.timezone, 'Europe/Berlin')
  t.equal(await task.handle(context), 'run-1 with app')
})

t.test('a class with a handle method that does not extend Task, and an instance of one', async (t) => {
  class Prune {
    runEveryMinute = true
    count = 0
    handle (): number { return ++this.count }
  }
  const fromClass = resolveTask(Prune, options({ fileName: 'prune.js' }))
  t.equal(fromClass.name, 'prune')
  t.equal(fromClass.schedule.describe(), 'every minute (UTC)')
  const instance = new Prune()
  const fromInstance = resolveTask(instance, options({ fileName: undefined }))
  t.equal(fromInstance.name, 'prune', 'the class name when there is no file name')
  t.equal(await fromInstance.handle(context), 1)
  t.equal(await fromInstance.handle(context), 2)
  t.equal(instance.count, 2, 'this is the instance')
})

t.test('the object form, with and without defineTask', async (t) => {
  const defined = defineTask({ name: 'nightly-import', runAt: '02:30', timezone: 'America/New_York', handle: () => 'imported' })
  const task = resolveTask(defined, options())
  t.equal(task.name, 'nightly-import', 'the name property wins over the file name')
  t.equal(task.schedule.describe(), 'daily at 02:30 (America/New_York)')
  t.equal(await task.handle(context), 'imported')
  const plain = resolveTask({ twiceDaily: [1, 13], handle () { return this } }, options({ fileName: 'twice_daily.mjs' }))
  t.equal(plain.name, 'twice-daily')
  t.type(await plain.handle(context), 'object')
  t.equal(resolveTask(Object.assign(Object.create(null) as object, { handle () {} }), options()).schedule.manual, true, 'a null-prototype object')
})

t.test('handle always returns a promise, also when it throws synchronously', async (t) => {
  const task = resolveTask({ handle () { throw new Error('boom') } }, options())
  const result = task.handle(context)
  t.type(result, Promise)
  await t.rejects(result, { message: 'boom' })
  t.equal(await resolveTask({ handle: () => 42 }, options()).handle(context), 42)
})

t.test('the default name is the file name in kebab-case, else the class name', async (t) => {
  const names: Array<[string, string]> = [
    ['SayHi.ts', 'say-hi'], ['say_hi.ts', 'say-hi'], ['sayHi.ts', 'say-hi'], ['say-hi.ts', 'say-hi'],
    ['ImportXML.ts', 'import-xml'], ['tasks/nested/PruneRows.js', 'prune-rows'], ['check subscribers.mts', 'check-subscribers']
  ]
  for (const [fileName, name] of names) t.equal(resolveTask({ handle () {} }, options({ fileName })).name, name, fileName)
  class CheckSubscribers extends Task { handle (): void {} }
  t.equal(resolveTask(CheckSubscribers, options({ fileName: undefined })).name, 'check-subscribers')
  t.throws(() => resolveTask({ handle () {} }, options({ fileName: undefined })),
    { code: 'FST_SCHEDULER_INVALID_TASK', message: 'tasks/say-hi.ts: cannot tell the task\'s name: give it a name property' })
  t.throws(() => resolveTask({ name: '', handle () {} }, options()), { message: /^tasks\/say-hi\.ts: name: expected a non-empty string, got ""$/ })
  t.throws(() => resolveTask({ name: 42, handle () {} }, options()), { message: /name: expected a non-empty string, got 42/ })
})

t.test('options: defaults and accepted values', async (t) => {
  const defaults = resolveTask({ handle () {} }, options())
  t.equal(defaults.timeoutMs, 600_000, 'timeout defaults to 10 minutes')
  t.equal(defaults.catchUpMs, Infinity, 'catchUp defaults to true')
  t.equal(defaults.overlap, 'skip')
  t.equal(defaults.enabled, true)
  t.equal(defaults.schedule.manual, true)
  t.equal(defaults.schedule.describe(), 'manual only')
  const set = resolveTask({ timeout: '30 seconds', catchUp: '15 minutes', allowOverlap: true, enabled: false, handle () {} }, options())
  t.equal(set.timeoutMs, 30_000)
  t.equal(set.catchUpMs, 900_000)
  t.equal(set.overlap, 'allow', 'allowOverlap: true is the deprecated alias of overlap: allow')
  t.equal(set.enabled, false)
  t.equal(resolveTask({ timeout: 5000, catchUp: false, handle () {} }, options()).catchUpMs, 0, 'false: the same minute only')
  t.equal(resolveTask({ catchUp: true, handle () {} }, options()).catchUpMs, Infinity)
  t.equal(resolveTask({ catchUp: 120_000, handle () {} }, options()).catchUpMs, 120_000)
})

t.test('time zone: the task\'s, else the plugin\'s, else the process\'s', async (t) => {
  t.equal(resolveTask({ timezone: 'Asia/Kathmandu', runAt: '17:00', handle () {} }, options({ timezone: 'Europe/Berlin' })).timezone, 'Asia/Kathmandu')
  t.equal(resolveTask({ runAt: '17:00', handle () {} }, options({ timezone: 'Europe/Berlin' })).timezone, 'Europe/Berlin')
  const { timezone: _ignored, ...withoutZone } = options()
  t.equal(resolveTask({ runAt: '17:00', handle () {} }, withoutZone).timezone, Intl.DateTimeFormat().resolvedOptions().timeZone)
})

t.test('runAt with a minute schedule warns, naming the file', async (t) => {
  warnings.length = 0
  resolveTask({ runEvery: '5 minutes', runAt: '17:00', handle () {} }, options())
  t.match(warnings, [/^tasks\/say-hi\.ts: runAt "17:00" is ignored/])
})

t.test('unknown properties fail the boot, with a suggestion', async (t) => {
  t.throws(() => resolveTask({ run_every: '3 days', handle () {} }, options()),
    { code: 'FST_SCHEDULER_INVALID_TASK', message: 'tasks/say-hi.ts: unknown property "run_every" — did you mean "runEvery"?' })
  t.throws(() => resolveTask({ RunAt: '17:00', handle () {} }, options()), { message: /unknown property "RunAt" — did you mean "runAt"\?/ })
  t.throws(() => resolveTask({ timout: '1 minute', handle () {} }, options()), { message: /unknown property "timout" — did you mean "timeout"\?/ })
  t.throws(() => resolveTask({ priority: 3, handle () {} }, options()),
    { message: /^tasks\/say-hi\.ts: unknown property "priority" \(accepted: runEvery, runAt, runEveryHour, runEveryMinute, twiceDaily, cron, name, timezone, timeout, catchUp, overlap, allowOverlap, enabled, retries, heartbeat, pauseOnFailure, payload, handle, onSuccess, onFailure\)$/ })
})

t.test('retries, heartbeat, onSuccess and onFailure are checked at boot', async (t) => {
  const task = (extra: object) => resolveTask({ runEveryMinute: true, handle () {}, ...extra }, options())
  t.same(task({ retries: { attempts: 3, delay: '5 minutes' } }).retries, { attempts: 3, delayMs: 300_000 })
  t.same(task({ retries: { attempts: 2 } }).retries, { attempts: 2, delayMs: 60_000 }, 'delay defaults to 1 minute')
  t.equal(task({ retries: false }).retries, false, 'false: none, whatever the plugin says')
  t.equal(task({}).retries, undefined, 'absent: the plugin\'s policy')
  t.throws(() => task({ retries: 3 }), { message: /retries: expected \{ attempts: 2 to 100/ })
  t.throws(() => task({ retries: { attempts: 1 } }), { message: /retries\.attempts: expected an integer from 2 to 100/ })
  t.throws(() => task({ retries: { attempts: 3, dealy: '1 minute' } }), { message: /retries: unknown property "dealy" — did you mean "delay"\?/ })
  t.throws(() => task({ retries: { attempts: 3, delay: 'soon' } }), { message: /retries\.delay "soon"/ })
  t.equal(task({ heartbeat: 'https://hc-ping.com/abc' }).heartbeat?.href, 'https://hc-ping.com/abc')
  t.throws(() => task({ heartbeat: 'hc-ping.com/abc' }), { message: /heartbeat: expected an http\(s\) URL/ })
  t.throws(() => task({ heartbeat: 'ftp://x/y' }), { message: /heartbeat: expected an http\(s\) URL/ })
  t.throws(() => task({ onFailure: 'mail' }), { message: /onFailure must be a function/ })
  t.throws(() => task({ timeout: '25 days' }), { message: /timeout "25 days": at most 2147483647 ms/ }, 'a timeout no timer can hold fails the boot')
  class WithHooks extends Task {
    runEveryMinute = true
    seen: string[] = []
    handle (): void {}
    onSuccess (): void { this.seen.push('success') }
  }
  const resolved = resolveTask(WithHooks, options())
  t.type(resolved.onSuccess, 'function', 'a class method is a hook')
  t.equal(resolved.onFailure, undefined)
})

t.test('class instances: misspelt options fail, the task\'s own services do not', async (t) => {
  class Typo extends Task {
    run_every = '3 days'
    handle (): void {}
  }
  t.throws(() => resolveTask(Typo, options()), { message: 'tasks/say-hi.ts: unknown property "run_every" — did you mean "runEvery"?' })
  class Timout extends Task {
    timout = '1 minute'
    handle (): void {}
  }
  t.throws(() => resolveTask(Timout, options()), { message: /unknown property "timout" — did you mean "timeout"\?/ })
  class Services extends Task {
    runEveryHour = true
    node = 'a'
    db = {}
    mailer = {}
    attempts = 3
    constructor (readonly app: FastifyInstance) { super() }
    handle (): void {}
  }
  t.equal(resolveTask(Services, options()).schedule.describe(), 'every hour (UTC)', 'app, db, node, mailer, attempts are fine')
})

t.test('handle must be a function', async (t) => {
  t.throws(() => resolveTask({ runAt: '17:00', handle: 'run' }, options()),
    { code: 'FST_SCHEDULER_INVALID_TASK', message: 'tasks/say-hi.ts: handle must be a function handle (ctx) { ... }, got "run"' })
  t.throws(() => resolveTask({ runAt: '17:00' }, options()), { message: /handle must be a function .*got undefined$/ })
  // A JavaScript subclass of Task that forgot handle.
  const NoHandle = class extends (Task as unknown as new () => object) { runEvery = '1 day' }
  t.equal(isTaskLike(NoHandle), true, 'discovery takes it as a task …')
  t.throws(() => resolveTask(NoHandle, options()), { message: /handle must be a function/ }, '… and the boot says what is wrong')
})

t.test('exports that are not tasks', async (t) => {
  for (const exported of [undefined, null, 42, 'task', [], () => {}, class Empty {}]) {
    t.throws(() => resolveTask(exported, options()), {
      code: 'FST_SCHEDULER_INVALID_TASK',
      message: /^tasks\/say-hi\.ts: does not export a task \(expected a class extending Task, a class with a handle method, or defineTask\(\{ \.\.\., handle \(ctx\) \{ \.\.\. \} \}\)\), got /
    }, String(exported))
  }
})

t.test('a constructor that throws fails the boot, naming the file, with the cause', async (t) => {
  const cause = new Error('no mailer configured')
  class Broken extends Task {
    constructor () { super(); throw cause }
    handle (): void {}
  }
  t.throws(() => resolveTask(Broken, options()), { message: 'tasks/say-hi.ts: constructing Broken failed: no mailer configured', cause })
})

t.test('schedule and option errors name the file, the property and what is accepted', async (t) => {
  t.throws(() => resolveTask({ runEvery: '3 dayz', handle () {} }, options({ source: 'tasks/x.ts' })), {
    code: 'FST_SCHEDULER_INVALID_SCHEDULE',
    message: 'tasks/x.ts: runEvery "3 dayz": unknown unit "dayz" (accepted: minute(s), hour(s), day(s), month(s))'
  })
  t.throws(() => resolveTask({ timezone: 'Mars/Base', handle () {} }, options()), { message: /^tasks\/say-hi\.ts: timezone "Mars\/Base": unknown time zone/ })
  t.throws(() => resolveTask({ timezone: 1, handle () {} }, options()), { code: 'FST_SCHEDULER_INVALID_TASK', message: /timezone: expected an IANA time zone name .*got 1$/ })
  t.throws(() => resolveTask({ timeout: '10 minuets', handle () {} }, options()), { code: 'FST_SCHEDULER_INVALID_TASK', message: /^tasks\/say-hi\.ts: timeout "10 minuets": expected a number of milliseconds/ })
  t.throws(() => resolveTask({ timeout: 0, handle () {} }, options()), { message: /timeout 0: must be longer than 0/ })
  t.throws(() => resolveTask({ catchUp: 'soon', handle () {} }, options()), { message: /catchUp "soon": expected a number of milliseconds/ })
  t.throws(() => resolveTask({ catchUp: null, handle () {} }, options()), { message: /catchUp: expected true, false or a duration such as '15 minutes', got null/ })
  t.throws(() => resolveTask({ allowOverlap: 'yes', handle () {} }, options()), { message: /allowOverlap: expected true or false, got "yes"/ })
  t.throws(() => resolveTask({ enabled: 0, handle () {} }, options()), { message: /enabled: expected true or false, got 0/ })
  t.throws(() => resolveTask({ runEvery: '3 days', twiceDaily: [1, 13], handle () {} }, options()), { message: /two schedules on one task: runEvery and twiceDaily/ })
})

t.test('isTaskLike tells task exports from everything else', async (t) => {
  class Sub extends Task { handle (): void {} }
  class WithHandle { handle (): void {} }
  t.equal(isTaskLike(Sub), true)
  t.equal(isTaskLike(WithHandle), true)
  t.equal(isTaskLike(new WithHandle()), true)
  t.equal(isTaskLike(defineTask({ handle () {} })), true)
  t.equal(isTaskLike({ handle () {} }), true)
  for (const value of [undefined, null, 1, 'x', {}, [], () => {}, class {}, { handle: 'x' }]) t.equal(isTaskLike(value), false, String(value))
})

t.test('defineTask returns its argument, branded without a visible property', async (t) => {
  const def = { runEveryMinute: true, handle () {} }
  const task = defineTask(def)
  t.equal(task, def)
  t.equal(isDefinedTask(task), true)
  t.same(Object.keys(task), ['runEveryMinute', 'handle'])
  t.equal(isDefinedTask({ handle () {} }), false)
  const frozen = defineTask(Object.freeze({ runAt: '17:00', handle () {} }))
  t.equal(isDefinedTask(frozen), true, 'a frozen object is copied, then branded')
  t.equal(frozen.runAt, '17:00')
  t.equal(resolveTask(frozen, options()).schedule.describe(), 'daily at 17:00 (UTC)')
})
