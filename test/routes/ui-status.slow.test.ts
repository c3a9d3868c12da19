/**
 * The dashboard says what is wrong (docs/RUN-OUTPUT.md#the-dashboard), in a real headless
 * Chromium at 1280×800 and 390×844, light and dark: a summary line ("1 task failing,
 * 0 overdue"), failing tasks first, every time labelled with its zone, covers and output of
 * runs, and on a phone the history as stacked cards whose error text lies inside the
 * viewport. Screenshots go to the test's output folder (t.testdirName).
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { defineTask } from '../../tasks/task.js'
import { chromiumFor, chromiumProblem, openDashboard } from '../helpers/browser.js'
import { needs } from '../helpers/services.js'
import { buildRoutesApp, TOKEN } from './helpers.js'

const ERROR = 'upstream refused the export: HTTP 503 from billing.example after 3 attempts'

t.test('the dashboard leads with what is wrong', needs(chromiumProblem()), async t => {
  const out = t.testdirName
  await mkdir(out, { recursive: true })
  const { context } = await chromiumFor(t, { timezoneId: 'UTC' })
  const built = await buildRoutesApp({
    plugin: {
      tasks: [
        defineTask({ name: 'alpha-report', runEveryMinute: true, handle ({ log }) { log.info('report written') } }),
        defineTask({ name: 'billing-export', runEveryMinute: true, handle ({ log }) { log.warn({ rows: 12 }, 'partial export'); throw new Error(ERROR) } }),
        defineTask({ name: 'cleanup', runEvery: '5 minutes', handle () {} })
      ]
    }
  })
  const { app, clock } = built
  t.teardown(() => app.close())
  const tickAt = async (iso: string) => {
    clock.set(Date.parse(iso))
    await (await app.scheduler.tick(new Date(iso))).settled
  }
  await tickAt('2026-05-12T21:40:00Z')
  await tickAt('2026-05-12T21:42:00Z') // 21:41–21:42 coalesced
  await tickAt('2026-05-12T21:44:00Z') // 21:43–21:44 coalesced

  const page = await openDashboard(t, context, app, TOKEN)
  await page.locator('article.task').first().waitFor()
  await page.locator('#history-rows tr[data-run]').first().waitFor()

  t.match(await page.locator('#summary').textContent(), /^1 task failing, 0 overdue/, 'the summary line opens the page')
  t.ok(await page.locator('#summary.bad').isVisible(), 'marked bad while a task fails')
  t.same((await page.locator('article.task h3').allTextContents())[0], 'billing-export', 'the failing task first')
  t.match(await page.locator('#health-facts').textContent(), /last tick .*1 task failing, 0 overdue/, 'the health reason in words')
  const times = await page.locator('article.task time, #history-rows time').allTextContents()
  t.ok(times.length > 5 && times.every(text => /UTC/.test(text)), 'every time says its zone')
  t.match(await page.locator('article[data-task="billing-export"] [data-role="covers"]').textContent(), /^covers 21:43–21:44 UTC, 2 occurrences$/, 'the last run says what it covers')
  t.match(await page.locator('#history-rows').textContent(), /covers 21:43–21:44 UTC, 2 occurrences/, 'so does the history')
  t.match(await page.locator('article[data-task="billing-export"] [data-role="output"]').textContent(), /WARN partial export \{"rows":12\}/, 'the output of the last run')

  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme })
    for (const [device, width, height] of [['desktop', 1280, 800], ['phone', 390, 844]] as const) {
      await page.setViewportSize({ width, height })
      t.equal(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), true, `${colorScheme} ${device}: nothing wider than the screen`)
      await page.screenshot({ path: join(out, `${colorScheme}-${device}.png`), fullPage: true })
      if (device !== 'phone') continue
      // On a phone: the first failed run's error is inside the viewport once its card is scrolled to.
      const error = page.locator('#history-rows tr[data-run]', { hasText: ERROR }).first().locator('td.err pre').first()
      await error.scrollIntoViewIfNeeded()
      const box = await error.boundingBox()
      t.ok(box !== null && box.x >= 0 && box.x + box.width <= width, `${colorScheme}: the error text lies inside the viewport's width (${JSON.stringify(box)})`)
      t.equal(await page.locator('#history-table thead').isVisible(), false, 'no table header: stacked cards')
      t.match(await page.evaluate('getComputedStyle(document.querySelector("#history-rows td.err"), "::before").content'), /Error/, 'each cell labelled')
      await page.screenshot({ path: join(out, `${colorScheme}-phone-history.png`) })
    }
  }
})
