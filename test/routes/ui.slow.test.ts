/**
 * The dashboard, GET <prefix>/ui: its headers and its emptiness through `inject`, then the
 * page itself in a real headless Chromium against a listening app whose time moves only
 * through `app.scheduler.tick(...)`.
 */
import { createHash } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import type { Page } from 'playwright-core'
import { resolveOptions } from '../../plugin/options.js'
import type { SchedulerOptions } from '../../plugin/types.js'
import { defineTask } from '../../tasks/task.js'
import { chromiumFor, chromiumProblem } from '../helpers/browser.js'
import { needs } from '../helpers/services.js'
import { AUTH, buildRoutesApp, TOKEN, type RoutesApp } from './helpers.js'

const XSS = '<img src=x onerror=alert(1)>'
const TOKEN_KEY = 'fastify-scheduler:token'
const SCREENSHOTS = fileURLToPath(new URL('../../test-output/ui/', import.meta.url))

/** Four tasks an operator would see: one in another zone, one failing with markup, one manual. */
function dashboardTasks (ran: string[]) {
  return [
    defineTask({ name: 'send-digest', runAt: '17:00', timezone: 'Europe/Berlin', handle () { ran.push('send-digest') } }),
    defineTask({ name: 'sync-subscribers', runEvery: '5 minutes', handle () { ran.push('sync-subscribers') } }),
    defineTask({ name: 'broken-import', runEveryMinute: true, handle () { throw new Error(XSS) } }),
    defineTask({ name: 'export-archive', handle () { ran.push('export-archive') } })
  ]
}

interface DashboardApp extends RoutesApp {
  ran: string[]
  /** Move the clock to `iso` and tick there, waiting for the runs. */
  tickAt: (iso: string) => Promise<void>
}

async function dashboardApp (t: Test, plugin: Partial<SchedulerOptions> = {}): Promise<DashboardApp> {
  const ran: string[] = []
  const built = await buildRoutesApp({ plugin: { tasks: dashboardTasks(ran), ...plugin } })
  t.teardown(() => built.app.close())
  const tickAt = async (iso: string): Promise<void> => {
    built.clock.set(Date.parse(iso))
    await (await built.app.scheduler.tick(new Date(iso))).settled
  }
  return { ...built, ran, tickAt }
}

async function listen (app: DashboardApp): Promise<string> {
  await app.app.listen({ port: 0, host: '127.0.0.1' })
  return `http://127.0.0.1:${(app.app.server.address() as AddressInfo).port}`
}

/** Twenty-five minutes of history: broken-import fails every minute, sync-subscribers runs every five. */
async function withHistory (app: DashboardApp): Promise<void> {
  for (let minute = 0; minute < 25; minute++) {
    await app.tickAt(new Date(Date.parse('2026-05-12T17:00:00Z') + minute * 60_000).toISOString())
  }
}

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`

// ---- without a browser ------------------------------------------------------------------

t.test('GET /_schedule/ui answers one self-contained page under a strict CSP', async t => {
  const app = await dashboardApp(t)
  await withHistory(app)
  const res = await app.app.inject({ method: 'GET', url: '/_schedule/ui' })
  t.equal(res.statusCode, 200, 'no credentials needed: the page carries no data')
  t.equal(res.headers['content-type'], 'text/html; charset=utf-8')
  t.equal(res.headers['x-content-type-options'], 'nosniff')
  t.equal(res.headers['referrer-policy'], 'no-referrer')
  t.equal(res.headers['cache-control'], 'no-store')

  const csp = String(res.headers['content-security-policy'])
  const directives = new Map(csp.split(/;\s*/).map(d => { const [name, ...values] = d.split(' '); return [name, values.join(' ')] }))
  t.same([...directives.keys()].sort(), ['base-uri', 'connect-src', 'default-src', 'form-action', 'frame-ancestors', 'img-src', 'script-src', 'style-src'])
  t.equal(directives.get('default-src'), "'none'")
  t.equal(directives.get('connect-src'), "'self'")
  t.equal(directives.get('img-src'), "'self' data:")
  t.equal(directives.get('base-uri'), "'none'")
  t.equal(directives.get('form-action'), "'none'")
  t.equal(directives.get('frame-ancestors'), "'none'")

  const scripts = [...res.body.matchAll(/<script>([\s\S]*?)<\/script>/g)].map(m => m[1])
  const styles = [...res.body.matchAll(/<style>([\s\S]*?)<\/style>/g)].map(m => m[1])
  t.equal(scripts.length, 1, 'one inline script')
  t.equal(styles.length, 1, 'one inline style')
  t.equal(directives.get('script-src'), sha256(scripts[0]), 'the script is allowed by its hash and nothing else')
  t.equal(directives.get('style-src'), sha256(styles[0]), 'the style is allowed by its hash and nothing else')
  t.notMatch(res.body, /<script[^>]+src=|<link[^>]+stylesheet|https?:\/\//, 'nothing loaded from anywhere')
  t.notMatch(res.body, /\sstyle="|\son[a-z]+="/, 'no inline style or event attributes (the CSP would block them)')

  for (const secret of ['send-digest', 'broken-import', 'onerror', TOKEN]) {
    t.notOk(res.body.includes(secret), `the page holds no data (${secret})`)
  }
  t.equal((await app.app.inject({ method: 'GET', url: '/_schedule' })).statusCode, 401, 'the listing still needs credentials')
  t.equal((await app.app.inject({ method: 'HEAD', url: '/_schedule/ui' })).statusCode, 200)
  t.equal((await app.app.inject({ method: 'GET', url: '/_schedule/ui/' })).statusCode, 404, 'one address only')
})

t.test('a plain fetch of the page over HTTP gets the headers and no data', async t => {
  const app = await dashboardApp(t)
  await withHistory(app)
  const origin = await listen(app)
  const res = await fetch(`${origin}/_schedule/ui`)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-security-policy'), /^default-src 'none'; script-src 'sha256-/)
  const body = await res.text()
  t.match(body, /<h1>Scheduled tasks<\/h1>/)
  t.notOk(body.includes('broken-import') || body.includes('sync-subscribers'), 'no task names')
})

t.test('the page follows the prefix, and ui: false turns it off', async t => {
  const prefixed = await dashboardApp(t, { prefix: '/ops/scheduler' })
  t.equal((await prefixed.app.inject({ method: 'GET', url: '/ops/scheduler/ui' })).statusCode, 200)
  const off = await dashboardApp(t, { ui: false })
  const res = await off.app.inject({ method: 'GET', url: '/_schedule/ui' })
  t.equal(res.statusCode, 404)
  t.equal((await off.app.inject({ method: 'GET', url: '/_schedule', headers: AUTH })).statusCode, 200, 'the JSON routes stay')
  t.throws(() => resolveOptions({ ui: 'yes' as unknown as boolean }), { code: 'FST_SCHEDULER_INVALID_OPTION', message: /ui: / })
  t.equal(resolveOptions({}).ui, true, 'on by default')
})

// ---- in Chromium -------------------------------------------------------------------------

t.test('the dashboard in Chromium', needs(chromiumProblem()), async t => {
  // The viewer is in New York, so times show in two zones for a Europe/Berlin task.
  const { context } = await chromiumFor(t, { timezoneId: 'America/New_York' })
  const requests: string[] = []
  const consoleErrors: string[] = []
  const pageErrors: string[] = []
  const dialogs: string[] = []
  context.on('request', request => { requests.push(request.url()) })
  context.on('console', message => { if (message.type() === 'error' || message.type() === 'warning') consoleErrors.push(message.text()) })
  context.on('weberror', error => { pageErrors.push(error.error().message) })
  context.on('dialog', dialog => { dialogs.push(dialog.message()); void dialog.dismiss() })
  // CSP violations reach the console as errors, and through this listener as well.
  await context.addInitScript('document.addEventListener(\'securitypolicyviolation\', e => console.error(\'csp-violation\', e.violatedDirective, e.blockedURI))')

  const app = await dashboardApp(t)
  await withHistory(app)
  const origin = await listen(app)
  const origins = new Set([origin])

  const newPage = async (t: Test): Promise<Page> => {
    const page = await context.newPage()
    t.teardown(() => page.close())
    return page
  }
  const signIn = async (page: Page, token = TOKEN, path = '/_schedule/ui'): Promise<void> => {
    await page.goto(`${origin}${path}`)
    await page.locator('#token').fill(token)
    await page.locator('#token').press('Enter')
  }
  const card = (page: Page, task: string) => page.locator(`article[data-task="${task}"]`)
  /**
   * True once `selector` matches an element, false (instead of a throw) when none did within
   * 5 s. A locator, not waitForFunction: that evaluates a string, which the page's CSP forbids.
   */
  const appears = async (page: Page, selector: string): Promise<boolean> =>
    await page.locator(selector).first().waitFor({ timeout: 5000 }).then(() => true, () => false)

  t.test('it asks for the token once, then shows every task with its schedule in both zones', async t => {
    const page = await newPage(t)
    await page.goto(`${origin}/_schedule/ui`)
    await page.locator('#login').waitFor()
    t.equal(await page.locator('article.task').count(), 0, 'no task before the token')
    t.notOk(await page.locator('#login-error').isVisible(), 'no error before any token was tried')
    await page.locator('#health-facts .badge', { hasText: 'ok' }).waitFor()

    await page.locator('#token').fill(TOKEN)
    await page.locator('#token').press('Enter')
    await card(page, 'broken-import').waitFor()
    const listing = await app.app.scheduler.list()
    // Failing tasks first (broken-import), the others in the listing's order.
    const failingFirst = [...listing.tasks].sort((a, b) => Number(b.consecutiveFailures > 0) - Number(a.consecutiveFailures > 0))
    t.same(await page.locator('article.task h3').allTextContents(), failingFirst.map(task => task.name))
    for (const task of listing.tasks) {
      const text = await card(page, task.name).locator('dl').textContent()
      t.ok(text?.includes(task.schedule), `${task.name}: the schedule in words`)
      if (task.cron !== null) t.equal(await card(page, task.name).locator('code').textContent(), task.cron, `${task.name}: the cron`)
      t.ok(text?.includes(task.timezone), `${task.name}: the zone`)
    }
    // send-digest runs at 17:00 Berlin = 11:00 in New York, tomorrow (today's was before the ticks).
    const nextRun = card(page, 'send-digest').locator('dd', { has: page.locator('time') }).first()
    t.match(await nextRun.locator('time').first().textContent(), /^13 May 2026, 11:00 America\/New_York \(in \d+ hours\)$/, 'every time says its zone')
    t.equal(await nextRun.locator('.sub').textContent(), '13 May 2026, 17:00 Europe/Berlin')
    t.match(await card(page, 'export-archive').textContent(), /manual only/)
    t.match(await page.locator('#health-facts').textContent(), /memory \(not durable\)/)

    t.equal(await page.evaluate(`sessionStorage.getItem(${JSON.stringify(TOKEN_KEY)})`), TOKEN, 'kept for the tab')
    t.notOk(page.url().includes(TOKEN), 'never in the URL')
    await page.reload()
    await card(page, 'broken-import').waitFor()
    t.notOk(await page.locator('#login').isVisible(), 'not asked again after a reload')
  })

  t.test('a failing task shows its error as text, never as markup', async t => {
    const page = await newPage(t)
    await signIn(page)
    await page.locator('#history-rows tr', { hasText: 'broken-import' }).first().waitFor()
    t.equal(await page.locator('#history-rows tr', { hasText: 'broken-import' }).first().locator('td.err pre').first().textContent(), XSS,
      'history: the message literally')
    t.equal(await card(page, 'broken-import').locator('[data-role="last-error"]').textContent(), XSS,
      'task card: the last run\'s message literally (needs the NEW lastRun.error)')
    t.ok(await appears(page, `[data-task="broken-import"] .strip .cell[title*=${JSON.stringify(XSS)}]`),
      'strip: the message in the run\'s details (needs the NEW recent)')
    t.equal(await page.locator('img').count(), 0, 'no img element was created')
    t.same(dialogs, [], 'no alert ran')
  })

  t.test('the history filters by task and status, and pages', async t => {
    const page = await newPage(t)
    await signIn(page)
    await page.locator('#page-info', { hasText: /of \d+/ }).waitFor()
    await page.locator('#filter-task').selectOption('broken-import')
    await page.locator('#filter-status').selectOption('failed')
    await page.locator('#page-info', { hasText: '1–20 of 25' }).waitFor()
    t.same(new Set(await page.locator('#history-rows tr td:nth-child(2)').allTextContents()), new Set(['broken-import']))
    t.ok(await page.locator('#newer').isDisabled())
    await page.locator('#older').click()
    await page.locator('#page-info', { hasText: '21–25 of 25' }).waitFor()
    t.equal(await page.locator('#history-rows tr').count(), 5)
    t.ok(await page.locator('#older').isDisabled())
    await page.locator('#filter-status').selectOption('succeeded')
    await page.locator('#page-info', { hasText: '0–0 of 0' }).waitFor()
    t.match(await page.locator('#history-rows').textContent(), /No runs match/)
  })

  t.test('"Run now", confirmed from the keyboard, runs the task exactly once and the strip shows it', async t => {
    const page = await newPage(t)
    await signIn(page)
    const sync = card(page, 'sync-subscribers')
    await sync.waitFor()
    const total = async (): Promise<number> => (await app.app.scheduler.history({ task: ['sync-subscribers'] })).total
    const before = await total()
    const ranBefore = app.ran.filter(name => name === 'sync-subscribers').length
    const cellsBefore = await sync.locator('.strip .cell').count()

    await sync.getByRole('button', { name: 'Run now' }).click()
    await page.locator('#confirm').waitFor()
    await page.locator('#confirm-cancel').click()
    t.notOk(await page.locator('#confirm').isVisible(), 'cancel closes the dialog')
    t.equal(await total(), before, 'and runs nothing')

    await sync.getByRole('button', { name: 'Run now' }).focus()
    await page.keyboard.press('Enter')
    await page.locator('#confirm').waitFor()
    t.equal(await page.evaluate('document.activeElement.id'), 'confirm-cancel', 'the safe choice has the focus')
    await page.keyboard.press('Tab')
    await page.keyboard.press('Enter')
    await sync.locator('output', { hasText: /^Succeeded in \d+ ms\.$/ }).waitFor()
    t.equal(await total(), before + 1, 'exactly one run recorded')
    t.equal(app.ran.filter(name => name === 'sync-subscribers').length, ranBefore + 1, 'exactly one run happened')
    const [latest] = (await app.app.scheduler.history({ task: ['sync-subscribers'], limit: 1 })).runs
    t.equal(latest.status, 'succeeded')
    t.ok(await appears(page, 'button[data-key="run:sync-subscribers"]:focus'), 'the focus comes back to the button')

    t.ok(await appears(page, `[data-task="sync-subscribers"] .strip .cell:nth-child(${cellsBefore + 1})`),
      'the strip has one more run (needs the NEW recent)')
    t.ok(await appears(page, '[data-task="sync-subscribers"] .strip .cell:last-child[title*="forced"]'),
      'the newest cell is the forced run (needs the NEW recent and forced)')
    await page.locator(`#history-rows tr[data-run="${latest.id}"]`).waitFor()
    t.pass('the history shows the run')
  })

  t.test('a wrong token says so and asks again', async t => {
    const page = await newPage(t)
    await signIn(page, 'not-the-right-token-0000')
    await page.locator('#login-error', { hasText: /refused this token \(401 Unauthorized\)/ }).waitFor()
    t.ok(await page.locator('#login').isVisible(), 'the prompt again')
    t.notOk(await page.locator('#tasks').isVisible(), 'no tasks')
    t.equal(await page.evaluate(`sessionStorage.getItem(${JSON.stringify(TOKEN_KEY)})`), null, 'the wrong token is not kept')
    await page.locator('#token').fill(TOKEN)
    await page.locator('#token').press('Enter')
    await card(page, 'sync-subscribers').waitFor()
    t.notOk(await page.locator('#login-error').isVisible())
  })

  t.test('with a cookie session authorize(), under another prefix, no token is asked for', async t => {
    // The docs' example: a session cookie, and the header a cross-site form cannot send.
    const cookieApp = await dashboardApp(t, {
      prefix: '/ops/scheduler',
      auth: { authorize: request => request.headers['x-fastify-scheduler'] === 'ui' && /\bsession=admin\b/.test(request.headers.cookie ?? '') }
    })
    await cookieApp.tickAt('2026-05-12T17:00:00Z')
    const cookieOrigin = await listen(cookieApp)
    origins.add(cookieOrigin)
    const page = await newPage(t)
    await context.addCookies([{ name: 'session', value: 'admin', url: cookieOrigin }])
    t.teardown(() => context.clearCookies())
    await page.goto(`${cookieOrigin}/ops/scheduler/ui`)
    await card(page, 'sync-subscribers').waitFor()
    t.notOk(await page.locator('#login').isVisible(), 'no prompt')
    t.notOk(await page.locator('#signout').isVisible(), 'no token to forget')
    const forged = await fetch(`${cookieOrigin}/ops/scheduler/run`, {
      method: 'POST', headers: { cookie: 'session=admin', 'content-type': 'application/x-www-form-urlencoded' }, body: 'task=sync-subscribers&force=true'
    })
    t.equal(forged.status, 401, 'a form POST riding the cookie, without the header, is refused')
  })

  t.test('screenshots: light and dark, desktop and phone', async t => {
    await mkdir(SCREENSHOTS, { recursive: true })
    const page = await newPage(t)
    await signIn(page)
    await card(page, 'broken-import').waitFor()
    await page.locator('#history-rows tr').first().waitFor()
    for (const colorScheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme })
      const background = await page.evaluate('getComputedStyle(document.body).backgroundColor')
      t.equal(background, colorScheme === 'dark' ? 'rgb(13, 17, 23)' : 'rgb(245, 246, 248)', `${colorScheme} colours`)
      for (const [device, width, height] of [['desktop', 1280, 900], ['phone', 390, 844]] as const) {
        await page.setViewportSize({ width, height })
        t.equal(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), true, `${device}: nothing wider than the screen`)
        await page.screenshot({ path: `${SCREENSHOTS}${colorScheme}-${device}.png`, fullPage: true })
        if (device === 'phone') await page.screenshot({ path: `${SCREENSHOTS}${colorScheme}-phone-top.png` })
      }
    }
    await page.locator('[data-task="sync-subscribers"] button[data-task]').click()
    await page.locator('#confirm').waitFor()
    await page.screenshot({ path: `${SCREENSHOTS}dark-phone-confirm.png` })
    await page.locator('#confirm-cancel').click()
  })

  t.test('no request left for another origin, and the CSP reported nothing', async t => {
    const foreign = requests.filter(url => !url.startsWith('data:') && !origins.has(new URL(url).origin))
    t.same(foreign, [], 'every request went to the app')
    t.ok(requests.length > 10, `requests were recorded (${requests.length})`)
    const csp = /csp-violation|Content Security Policy/
    t.same(consoleErrors.filter(text => csp.test(text)), [], 'no CSP violation')
    t.same(pageErrors.filter(text => csp.test(text)), [], 'no CSP error thrown')
    // The 401s the tests provoke are the only other errors the browser may log.
    const other = consoleErrors.filter(text => !csp.test(text) && !/^Failed to load resource: the server responded with a status of 401/.test(text))
    t.same(other, [], 'no other console error (a 400 here: the listing does not take the NEW ?upcoming&recent yet)')
    t.same(pageErrors, [], 'no uncaught error')
  })

  t.test('the CSP blocks what the page does not carry (the check above can fail)', async t => {
    const page = await newPage(t)
    await page.goto(`${origin}/_schedule/ui`)
    await page.locator('#login').waitFor()
    const reported = page.waitForEvent('console', { predicate: message => message.text().startsWith('csp-violation script-src'), timeout: 5000 })
    const ran = await page.evaluate(`(() => {
      const script = document.createElement('script')
      script.textContent = 'window.injected = true'
      document.head.append(script)
      return window.injected === true
    })()`)
    t.equal(ran, false, 'an injected inline script does not run')
    t.match((await reported).text(), /^csp-violation script-src/, 'and is reported')
  })
})
