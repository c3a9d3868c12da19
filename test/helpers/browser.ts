/**
 * A real headless Chromium for the dashboard tests: the distribution's `chromium` (Debian
 * package; `.ci/run` installs it) driven by playwright-core, which downloads no browser.
 *
 * When the binary is missing the browser tests skip with one line saying why, unless
 * SCHEDULER_REQUIRE_SERVICES=1 (CI), where they fail: the same convention as services.ts.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { AddressInfo } from 'node:net'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import type { Test } from 'tap'

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** Why the browser tests cannot run here, or undefined when they can. */
export function chromiumProblem (): string | undefined {
  if (existsSync(CHROMIUM_PATH)) return undefined
  return `no Chromium at ${CHROMIUM_PATH}; install it (apt-get install chromium) or set CHROMIUM_PATH`
}

// Nothing that phones home or needs a GPU: the tests must see only the page's own requests.
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-dev-shm-usage'
]

export interface Browser {
  context: BrowserContext
  close: () => Promise<void>
}

/** Chromium with a fresh profile in a temporary folder, removed on close. */
export async function launchChromium (options: { timezoneId?: string } = {}): Promise<Browser> {
  const profile = await mkdtemp(join(tmpdir(), 'fastify-scheduler-chromium-'))
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: ARGS,
      locale: 'en-GB',
      ...(options.timezoneId !== undefined ? { timezoneId: options.timezoneId } : {})
    })
    return {
      context,
      close: async () => {
        await context.close()
        await rm(profile, { recursive: true, force: true })
      }
    }
  } catch (err) {
    await rm(profile, { recursive: true, force: true })
    throw err
  }
}

/** Launch once for a test file, closed when the file's tests end. */
export async function chromiumFor (t: Test, options?: { timezoneId?: string }): Promise<Browser> {
  const browser = await launchChromium(options)
  t.teardown(browser.close)
  return browser
}

/**
 * Serve `app` on a free port of 127.0.0.1, open its dashboard (`<prefix>/ui`) in a new page
 * and sign in with `token`; the page is closed when `t` ends (the app is the caller's).
 */
export async function openDashboard (t: Test, context: BrowserContext, app: FastifyInstance, token: string, prefix = '/_schedule'): Promise<Page> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  const page = await context.newPage()
  t.teardown(() => page.close())
  await page.goto(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}${prefix}/ui`)
  await page.locator('#token').fill(token)
  await page.locator('#token').press('Enter')
  return page
}
