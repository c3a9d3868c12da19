/**
 * The steering arithmetic on its own (plugin/steering.ts): what a pause held back, the tasks a
 * resume frees and the skipped records it writes, a backfill's range checked and its cursor.
 * The scheduler's use of them is tested through app.scheduler in pause.test.ts and backfill.test.ts.
 */
import t from 'tap'
import Fastify from 'fastify'
import { InvalidInputError } from '../../core/errors.js'
import { resolveTask } from '../../tasks/resolve.js'
import { defineTask } from '../../tasks/task.js'
import type { ResolvedTask } from '../../tasks/types.js'
import type { Backfill, TaskPause, TaskState } from '../../plugin/stores/store.js'
import {
  backfillRange, cursorAfter, freedBy, heldBack, MAX_COUNTED_OCCURRENCES, moveCursor, occurrencesIn, pausedCount, pauseText, resumeSkips
} from '../../plugin/steering.js'

const app = Fastify()
t.teardown(async () => { await app.close() })

const resolve = (task: Parameters<typeof defineTask>[0], timezone = 'UTC'): ResolvedTask =>
  resolveTask(defineTask(task), { source: 'test', fileName: undefined, app, timezone, warn: () => {} })
const at = (iso: string): Date => new Date(iso)
const ms = (iso: string): number => Date.parse(iso)

const every5 = resolve({ name: 'every5', runEvery: '5 minutes', handle () {} })
const hourly = resolve({ name: 'hourly', runEveryHour: true, handle () {} })
const manual = resolve({ name: 'manual', handle () {} })
const seen: TaskState = { firstSeen: at('2026-05-11T00:00:00Z') }
/** The pause of `task` (null: of everything), begun at 10:00. */
const pauseOf = (task: string | null): TaskPause => ({ task, since: at('2026-05-11T10:00:00Z') })

t.test('pauseText: trimmed, bounded, empty means none', async t => {
  t.equal(pauseText(undefined), undefined)
  t.equal(pauseText('   '), undefined)
  t.equal(pauseText('  deploy  '), 'deploy')
  t.equal(pauseText('x'.repeat(1000))?.length, 500)
})

t.test('pausedCount: the pause of everything counts every task; others count the known tasks paused', async t => {
  const names = new Set(['a', 'b', 'c'])
  t.equal(pausedCount([], names), 0)
  t.equal(pausedCount([pauseOf('a'), pauseOf('gone')], names), 1, 'a pause of a task this app no longer has is not counted')
  t.equal(pausedCount([pauseOf('a'), pauseOf(null)], names), 3)
})

t.test('heldBack: owed occurrences from the pause (or after the last claimed one) up to now', async t => {
  t.same(heldBack(every5, seen, ms('2026-05-11T10:02:00Z'), ms('2026-05-11T10:21:00Z')),
    { count: 4, first: at('2026-05-11T10:05:00Z'), last: at('2026-05-11T10:20:00Z'), beforeLast: at('2026-05-11T10:15:00Z') })
  t.same(heldBack(every5, seen, ms('2026-05-11T10:05:30Z'), ms('2026-05-11T10:11:00Z')),
    { count: 2, first: at('2026-05-11T10:05:00Z'), last: at('2026-05-11T10:10:00Z'), beforeLast: at('2026-05-11T10:05:00Z') },
    'an occurrence in the pause\'s own minute was held back too')
  t.same(heldBack(every5, { ...seen, lastOccurrence: at('2026-05-11T10:15:00Z') }, ms('2026-05-11T10:02:00Z'), ms('2026-05-11T10:21:00Z')),
    { count: 1, first: at('2026-05-11T10:20:00Z'), last: at('2026-05-11T10:20:00Z'), beforeLast: undefined }, 'what already ran is not held back')
  t.same(heldBack(every5, { firstSeen: at('2026-05-11T10:12:00Z') }, ms('2026-05-11T10:02:00Z'), ms('2026-05-11T10:21:00Z'))?.first,
    at('2026-05-11T10:15:00Z'), 'nothing before the task was first seen')
  t.equal(heldBack(hourly, seen, ms('2026-05-11T10:02:00Z'), ms('2026-05-11T10:59:00Z')), undefined, 'none owed')
  const everyMinute = resolve({ name: 'm', runEveryMinute: true, handle () {} })
  t.equal(heldBack(everyMinute, { firstSeen: at('2000-01-01T00:00:00Z') }, ms('2000-01-01T00:00:00Z'), ms('2026-01-01T00:00:00Z'))?.count,
    MAX_COUNTED_OCCURRENCES, 'a very long pause is counted up to the bound')
})

t.test('freedBy: a task pause frees its task unless everything is paused; the pause of everything frees tasks without their own', async t => {
  const tasks = [every5, hourly, manual]
  const names = (list: ResolvedTask[]): string[] => list.map(task => task.name)
  t.same(names(freedBy(pauseOf('every5'), [pauseOf('every5')], tasks)), ['every5'])
  t.same(names(freedBy(pauseOf('every5'), [pauseOf('every5'), pauseOf(null)], tasks)), [], 'everything is still paused')
  t.same(names(freedBy(pauseOf(null), [pauseOf(null), pauseOf('hourly')], tasks)), ['every5'], 'hourly keeps its own pause; a manual task owes nothing')
})

t.test('resumeSkips: one skipped record per freed task; with catchUp the latest occurrence stays owed', async t => {
  const pause: TaskPause = { task: null, since: at('2026-05-11T10:02:00Z'), reason: 'deploy' }
  const states = new Map<string, TaskState>([['every5', seen], ['hourly', seen]])
  const nowMs = ms('2026-05-11T10:21:00Z')
  const plain = resumeSkips([every5, hourly], states, pause, nowMs, false, 'host:1')
  t.same(plain.skipped, [{ task: 'every5', occurrences: 4, from: '2026-05-11T10:05:00.000Z', to: '2026-05-11T10:20:00.000Z' }], 'hourly owed nothing')
  t.match(plain.records, [{
    task: 'every5',
    scheduledFor: at('2026-05-11T10:20:00Z'),
    status: 'skipped',
    trigger: 'api',
    error: 'paused: 4 occurrences from 2026-05-11T10:05:00.000Z to 2026-05-11T10:20:00.000Z',
    startedAt: at('2026-05-11T10:21:00Z'),
    instance: 'host:1',
    forced: false
  }])
  const caught = resumeSkips([every5], states, pause, nowMs, true, 'host:1')
  t.same(caught.skipped, [{ task: 'every5', occurrences: 3, from: '2026-05-11T10:05:00.000Z', to: '2026-05-11T10:15:00.000Z' }])
  t.same(resumeSkips([every5], states, pause, ms('2026-05-11T10:06:00Z'), true, 'host:1'), { records: [], skipped: [] },
    'catchUp with one owed occurrence: nothing skipped, it runs')
  t.same(resumeSkips([every5], new Map(), pause, nowMs, false, 'host:1'), { records: [], skipped: [] }, 'a task never seen owes nothing')
  t.equal(resumeSkips([every5], states, pause, ms('2026-05-11T10:06:00Z'), false, 'host:1').records[0]?.error,
    'paused: 1 occurrence from 2026-05-11T10:05:00.000Z to 2026-05-11T10:05:00.000Z', 'one occurrence, singular')
})

t.test('backfillRange: counts the occurrences of a valid range, refuses the rest naming why', async t => {
  const now = ms('2026-05-11T12:00:00Z')
  t.same(backfillRange(every5, at('2026-05-11T10:01:00Z'), at('2026-05-11T10:30:00Z'), now, 1000), { first: at('2026-05-11T10:05:00Z'), count: 6 })
  t.same(backfillRange(every5, at('2026-05-11T10:00:00Z'), at('2026-05-11T10:00:00Z'), now, 1000), { first: at('2026-05-11T10:00:00Z'), count: 1 }, 'both ends inclusive')
  t.same(backfillRange(every5, at('2026-05-11T09:59:30Z'), at('2026-05-11T10:00:00Z'), now, 1000).first, at('2026-05-11T10:00:00Z'), 'a from between minutes')
  const refused = (from: unknown, to: unknown, message: RegExp, task = every5, max = 1000): void => {
    t.throws(() => backfillRange(task, from, to, now, max), { message }, message.source)
    try { backfillRange(task, from, to, now, max) } catch (err) { t.ok(err instanceof InvalidInputError, 'InvalidInputError') }
  }
  refused('2026-05-11T10:00:00Z', at('2026-05-11T10:30:00Z'), /^backfill: from must be a valid instant$/)
  refused(at('2026-05-11T10:00:00Z'), new Date(NaN), /^backfill: to must be a valid instant$/)
  refused(at('2026-05-11T10:30:00Z'), at('2026-05-11T10:00:00Z'), /from \(2026-05-11T10:30:00\.000Z\) is after to/)
  refused(at('2026-05-11T10:00:00Z'), at('2026-05-11T12:05:00Z'), /ends in the future \(to 2026-05-11T12:05:00\.000Z is after now 2026-05-11T12:00:00\.000Z\)/)
  refused(at('2026-05-11T10:00:00Z'), at('2026-05-11T11:00:00Z'), /task "manual" has no schedule \(manual only\)/, manual)
  refused(at('2026-05-11T10:01:00Z'), at('2026-05-11T10:59:00Z'), /holds no occurrence of task "hourly"/, hourly)
  refused(at('2026-05-11T10:00:00Z'), at('2026-05-11T10:30:00Z'), /holds 7 occurrences of task "every5"; maxBackfill is 5/, every5, 5)
  refused(at('2026-05-01T00:00:00Z'), at('2026-05-11T10:30:00Z'), /holds more than 500 occurrences of task "every5"; maxBackfill is 5/, every5, 5)
})

t.test('occurrencesIn stops counting at its limit; cursorAfter ends at the range\'s end; moveCursor', async t => {
  t.equal(occurrencesIn(every5, at('2026-05-11T00:00:00Z'), at('2026-05-12T00:00:00Z'), 10).count, 10)
  const backfill = { id: 'b', task: 'every5', from: at('2026-05-11T10:00:00Z'), to: at('2026-05-11T10:10:00Z'), next: at('2026-05-11T10:05:00Z') } as unknown as Backfill
  t.same(cursorAfter(every5, backfill, at('2026-05-11T10:05:00Z')), at('2026-05-11T10:10:00Z'))
  t.equal(cursorAfter(every5, backfill, at('2026-05-11T10:10:00Z')), undefined, 'the last occurrence of the range')
  moveCursor(backfill, at('2026-05-11T10:10:00Z'))
  t.same(backfill.next, at('2026-05-11T10:10:00Z'))
  moveCursor(backfill, undefined)
  t.notOk('next' in backfill, 'finished: no cursor')
})
