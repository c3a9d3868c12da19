/**
 * The dashboard's Pause / Resume buttons (docs/PAUSE.md) in a real headless Chromium: pause
 * a task with a reason (asked in a prompt), see it paused, resume it; pause and resume everything.
 */
import t from 'tap'
import { chromiumFor, chromiumProblem, openDashboard } from '../helpers/browser.js'
import { needs } from '../helpers/services.js'
import { buildRoutesApp, TOKEN } from './helpers.js'

t.test('pause with a reason, resume, and the pause of everything in Chromium', needs(chromiumProblem()), async t => {
  const { context } = await chromiumFor(t)
  const pageErrors: string[] = []
  const prompts: string[] = []
  let answer: string | null = 'partner API down'
  context.on('weberror', error => { pageErrors.push(error.error().message) })
  context.on('console', message => { if (message.type() === 'error') pageErrors.push(message.text()) })
  context.on('dialog', dialog => {
    prompts.push(dialog.message())
    void (answer === null ? dialog.dismiss() : dialog.accept(answer))
  })

  const { app } = await buildRoutesApp()
  t.teardown(() => app.close())

  const page = await openDashboard(t, context, app, TOKEN)
  const card = page.locator('article[data-task="a"]')
  await card.waitFor()

  // Cancelling the prompt pauses nothing.
  answer = null
  await card.getByRole('button', { name: 'Pause', exact: true }).click()
  t.equal((await app.scheduler.list()).tasks[0]!.paused, null, 'cancel: nothing paused')

  answer = 'partner API down'
  await card.getByRole('button', { name: 'Pause', exact: true }).click()
  await card.locator('[data-paused="a"]').waitFor()
  t.match(prompts.at(-1), /Pause “a” on every replica/)
  await card.locator('dd', { hasText: 'partner API down' }).waitFor()
  t.match((await app.scheduler.list()).tasks[0]!.paused, { reason: 'partner API down', by: 'dashboard' }, 'the store has the pause')
  t.ok(await card.getByRole('button', { name: 'Resume', exact: true }).isVisible(), 'the button now resumes')

  await card.getByRole('button', { name: 'Resume', exact: true }).click()
  await card.getByRole('button', { name: 'Pause', exact: true }).waitFor()
  t.equal((await app.scheduler.list()).tasks[0]!.paused, null, 'resumed')
  t.equal(await card.locator('[data-paused="a"]').count(), 0, 'no paused badge')

  answer = 'migration 42'
  await page.locator('#pause-all').click()
  await page.locator('#pause-all-state', { hasText: 'migration 42' }).waitFor()
  t.match((await app.scheduler.list()).paused, { reason: 'migration 42', all: true })
  await card.locator('[data-paused="a"]', { hasText: 'paused (everything)' }).waitFor()
  await page.locator('#pause-all', { hasText: 'Resume everything' }).click()
  await page.locator('#pause-all', { hasText: 'Pause everything' }).waitFor()
  t.equal((await app.scheduler.list()).paused, null, 'everything resumed')
  // Expected answers the browser logs as failed loads: 401 before the token is entered, and
  // health's 503 ("no tick yet": this app is never ticked). Anything else is a defect.
  const expected = /^Failed to load resource: the server responded with a status of (401|503)/
  t.same(pageErrors.filter(text => !expected.test(text)), [], 'no page error, no CSP violation')
})
