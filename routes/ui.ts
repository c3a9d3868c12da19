/**
 * `GET <prefix>/ui`: the dashboard (docs/ARCHITECTURE.md#notifications-and-the-dashboard), one self-contained page.
 *
 * The page carries no data, so it sits outside the auth guard: what it shows, it fetches from
 * the JSON routes beside it with the operator's credentials — a bearer token the page asks
 * for once and keeps in `sessionStorage` (never in a URL), or, when an unauthenticated first
 * call already succeeds, the app's own cookie session (`credentials: 'same-origin'`).
 *
 * Safe by construction:
 * - Its CSS and JS are inlined and allowed by SHA-256 hashes computed once here; the CSP
 *   allows nothing else (no other script, style, frame, form target or origin), so even a
 *   rendering bug could not run a task name or error message as code. The page itself only
 *   renders data with `textContent` and DOM APIs.
 * - Every call it makes sends `X-Fastify-Scheduler: ui`, and `POST /run` sends a JSON body.
 *   A cross-site HTML form can send neither, and a cross-site `fetch` that tries must pass a
 *   CORS preflight the routes never grant. Bearer tokens are not sent by browsers on their
 *   own, so token auth needs nothing more; but an `auth.authorize` that trusts a session
 *   cookie (which browsers do attach to cross-site form POSTs) must require that header to
 *   rule out a forged "run now":
 *
 *     authorize (request) {
 *       return request.headers['x-fastify-scheduler'] === 'ui' && isAdmin(request.session)
 *     }
 *
 *   (see docs/DASHBOARD.md).
 *
 * The page's files (ui/page.html, page.css, page.js) are read once, at registration.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { FastifySchema } from 'fastify'
import type { ScheduleApp } from './types.js'

export interface DashboardPage {
  html: string
  headers: Record<string, string>
}

function asset (name: string): string {
  return readFileSync(new URL(`./ui/${name}`, import.meta.url), 'utf8')
}

function sha256 (text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`
}

/** Put `content` where `marker` stands (a function replacement, so `$&` in the JS stays as is). */
function inline (html: string, marker: string, content: string): string {
  if (!html.includes(marker)) throw new Error(`routes/ui/page.html has no ${marker}`)
  return html.replace(marker, () => content)
}

/** The page with its CSS and JS inlined, and the headers that let exactly those run. */
export function dashboardPage (): DashboardPage {
  const style = asset('page.css')
  const script = asset('page.js')
  const html = inline(inline(asset('page.html'), '/*{{style}}*/', style), '/*{{script}}*/', script)
  const csp = [
    "default-src 'none'",
    `script-src ${sha256(script)}`,
    `style-src ${sha256(style)}`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'"
  ].join('; ')
  return {
    html,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': csp,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store'
    }
  }
}

export function uiRoute (app: ScheduleApp): void {
  const page = dashboardPage()
  // Hidden from @fastify/swagger: the OpenAPI document describes the JSON API, not this page.
  // `hide` is typed only where @fastify/swagger is loaded, hence the cast.
  app.get('/ui', { schema: { hide: true } as FastifySchema }, async (request, reply) => reply.headers(page.headers).send(page.html))
}
