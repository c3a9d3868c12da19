/**
 * The dashboard's backfill (docs/PAYLOADS.md#backfills) in a real headless Chromium: the
 * dialog takes a range in the viewer's zone, a refused range keeps the dialog open with the
 * server's reason, an accepted one shows a progress bar on the card that the pings move,
 * and the finished backfill leaves the card while its runs stay in the history.
 */
import t from 'tap'
import { chromiumFor, chromiumProblem, openDashboard } from '../helpers/browser.js'
import { buildRoutesApp, START, TOKEN, AUTH } from './helpers.js'
import { needs } from '../helpers/services.js'
import { defineTask } from '../../tasks/task.js'

const MINUTE = 60_000

t.test('start a backfill from the dashboard and watch it progress in Chromium', needs(chromiumProblem()), async t => {
  // Kolkata is UTC+05:30: a range typed as 22:20 there is 16:50 UTC, so a page that sent
  // the typed digits as UTC would backfill the wrong half hour (and be refused: the future).
  const { context } = await chromiumFor(t, { timezoneId: 'Asia/Kolkata' })
  const pageErrors: string[] = []
  context.on('weberror', error => { pageErrors.push(error.error().message) })
  context.on('console', message => { if (message.type() === 'error') pageErrors.push(message.text()) })

  const { app, clock, contexts } = await buildRoutesApp({ plugin: { maxBackfill: 10 } })
  t.teardown(() => app.close())
  const tick = async (ms: number) => {
    clock.set(ms)
    const res = await app.inject({ method: 'POST', url: '/_schedule/run?wait=true', headers: AUTH })
    t.equal(res.statusCode, 200, `tick at ${new Date(ms).toISOString()}`)
  }

  const page = await openDashboard(t, context, app, TOKEN)
  const card = page.locator('article[data-task="a"]')
  await card.waitFor()
  t.equal(await card.locator('[data-backfill]').count(), 0, 'no backfill yet')

  await card.getByRole('button', { name: 'Backfill…' }).click()
  const dialog = page.locator('#backfill')
  await dialog.waitFor()
  t.match(await page.locator('#backfill-text').textContent(), /“a”.*Asia\/(Kolkata|Calcutta)/, 'the dialog names the task and the zone')
  // The range offered ends at the server's minute (17:00 UTC = 22:30 in Kolkata), an hour long.
  t.equal(await page.locator('#backfill-from').inputValue(), '2026-05-12T21:30')
  t.equal(await page.locator('#backfill-to').inputValue(), '2026-05-12T22:30')

  // A range reaching into the future is refused; the dialog stays open with the reason.
  await page.locator('#backfill-from').fill('2026-05-12T22:20')
  await page.locator('#backfill-to').fill('2026-05-12T22:40')
  await dialog.getByRole('button', { name: 'Start backfill' }).click()
  await page.locator('#backfill-error', { hasText: 'ends in the future' }).waitFor()
  t.match(await page.locator('#backfill-error').textContent(), /^Not started \(400: /)
  t.ok(await dialog.isVisible(), 'still open')
  t.same((await app.scheduler.list()).tasks[0]!.backfills, [], 'nothing stored')

  // 22:20–22:24 in Kolkata: 16:50–16:54 UTC, five occurrences of an every-minute task.
  await page.locator('#backfill-to').fill('2026-05-12T22:24')
  await dialog.getByRole('button', { name: 'Start backfill' }).click()
  await card.locator('[data-role="outcome"]', { hasText: 'Backfill of 5 occurrences started' }).waitFor()
  t.notOk(await dialog.isVisible(), 'closed once started')
  const stored = (await app.scheduler.list()).tasks[0]!.backfills
  t.match(stored, [{ from: '2026-05-12T16:50:00.000Z', to: '2026-05-12T16:54:00.000Z', occurrences: 5, done: 0 }], 'the store holds the UTC range')
  const bar = card.locator(`[data-backfill="${stored[0]!.id}"]`)
  await bar.waitFor()
  t.equal(await bar.locator('[data-role="backfill-count"]').textContent(), '0 of 5 · 0 run, 0 already run')
  t.equal(await bar.locator('progress').getAttribute('max'), '5')
  t.equal(await bar.locator('progress').getAttribute('aria-label'), 'Backfill of a: 0 of 5 occurrences handled')

  // Two pings run two occurrences; the page shows it on its next refresh.
  await tick(START + 1000)
  await tick(START + MINUTE + 1000)
  await page.locator('#refresh').click()
  await bar.locator('[data-role="backfill-count"]', { hasText: '2 of 5' }).waitFor()
  t.equal(await bar.locator('progress').getAttribute('value'), '2')
  t.match(await bar.textContent(), /22:20 Asia\/\w+ → .*22:24 .* · next .*22:22 Asia\//, 'the range and the next occurrence, in the viewer\'s zone')

  // The same range again is the same backfill.
  await card.getByRole('button', { name: 'Backfill…' }).click()
  await page.locator('#backfill-from').fill('2026-05-12T22:20')
  await page.locator('#backfill-to').fill('2026-05-12T22:24')
  await dialog.getByRole('button', { name: 'Start backfill' }).click()
  await card.locator('[data-role="outcome"]', { hasText: 'already in progress' }).waitFor()

  for (let i = 2; i < 5; i++) await tick(START + i * MINUTE + 1000)
  await page.locator('#refresh').click()
  await bar.waitFor({ state: 'detached' })
  t.same(contexts.filter(c => c.trigger === 'backfill').map(c => c.scheduledFor.toISOString()),
    [0, 1, 2, 3, 4].map(i => new Date(START - (10 - i) * MINUTE).toISOString()), 'five runs, oldest first')

  // The history says which runs the backfill made.
  await page.locator('#filter-task').selectOption('a')
  await page.locator('#history-rows tr td[data-label="Trigger"]', { hasText: 'backfill' }).first().waitFor()
  t.equal(await page.locator('#history-rows tr td[data-label="Trigger"]', { hasText: 'backfill' }).count(), 5)

  // Expected answers the browser logs as failed loads: 401 before the token is entered,
  // health's 503 before the first tick, and the refused range's 400. Anything else is a defect.
  const expected = /^Failed to load resource: the server responded with a status of (400|401|503)/
  t.same(pageErrors.filter(text => !expected.test(text)), [], 'no page error, no CSP violation')
})

t.test('a manual-only task offers no backfill', needs(chromiumProblem()), async t => {
  const { context } = await chromiumFor(t)
  const { app } = await buildRoutesApp({ plugin: { tasks: [defineTask({ name: 'by-hand', handle () {} })] } })
  t.teardown(() => app.close())
  const page = await openDashboard(t, context, app, TOKEN)
  const card = page.locator('article[data-task="by-hand"]')
  await card.waitFor()
  t.equal(await card.getByRole('button', { name: 'Backfill…' }).count(), 0)
  t.equal(await card.getByRole('button', { name: 'Run now' }).count(), 1)
})
