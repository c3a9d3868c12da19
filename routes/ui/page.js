// @ts-check
// The dashboard's script. Plain browser JavaScript, no build step, allowed by its hash.
// Every value from the server reaches the page through textContent or DOM APIs (el() below),
// never innerHTML: a task name or error message is text, whatever characters it holds.
'use strict'

// Checked by `npm run typecheck` (routes/ui/tsconfig.json). The answers' types are the
// routes' own, derived from their TypeBox schemas (plugin/schemas.ts, routes/schemas.ts).
/** @typedef {import('../../plugin/types.js').SchedulerListing} Listing */
/** @typedef {Listing['tasks'][number]} TaskRow */
/** @typedef {import('../../plugin/types.js').RunSummary} RunSummary */
/** @typedef {import('../schemas.js').RunRecordJson} HistoryRun */
/** @typedef {{ runs: HistoryRun[], total: number, limit: number, offset: number }} HistoryPage */
/** @typedef {{ status: number, ok: boolean, data: any }} ApiAnswer */
/** @typedef {{ kind?: 'good' | 'bad', text: string }} Outcome */

const TOKEN_KEY = 'fastify-scheduler:token'
const REFRESH_MS = 10_000
const HISTORY_PAGE = 20
const UPCOMING = 3
const RECENT = 20
const NONE = '—'

// The routes sit beside this page: <prefix>/ui → <prefix>, <prefix>/health, ...
const base = location.pathname.replace(/\/ui\/?$/, '')
const routes = {
  listing: base === '' ? '/' : base,
  health: `${base}/health`,
  runs: `${base}/runs`,
  run: `${base}/run`,
  pauseAll: `${base}/pause`,
  resumeAll: `${base}/resume`,
  /** @param {string} name @param {'pause' | 'resume' | 'backfill'} action */
  task: (name, action) => `${base}/tasks/${encodeURIComponent(name)}/${action}`
}

const state = {
  token: readToken(),
  /** True once the listing answered 200 with the credentials we hold. */
  signedIn: false,
  /** Set when the user typed a token, so a 401 can say that token was refused. */
  tokenJustEntered: false,
  listingQuery: `?upcoming=${UPCOMING}&recent=${RECENT}`,
  /** @type {Listing | null} */
  listing: null,
  /** @type {ApiAnswer | null} */
  health: null,
  history: { task: '', status: '', offset: 0 },
  /** Outcome of the last "Run now" per task, kept across re-renders. */
  /** @type {Map<string, Outcome>} */
  outcomes: new Map(),
  /** The payload editors' text per task, kept across re-renders. */
  /** @type {Map<string, string>} */
  payloads: new Map(),
  /** Task whose "Run now" the dialog is confirming. @type {string | null} */
  confirming: null,
  /** Task the backfill dialog is for. @type {string | null} */
  backfilling: null
}

/**
 * The page's element of that id, typed by the caller: `$('token', HTMLInputElement)`.
 * @template {HTMLElement} [T=HTMLElement]
 * @param {string} id
 * @param {new () => T} [_kind] only for the type
 * @returns {T}
 */
const $ = (id, _kind) => /** @type {T} */ (document.getElementById(id))

/**
 * Build an element: attributes by name (`class`, `text` for textContent), children appended as nodes or text.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string | number | boolean | null | undefined>} [attrs]
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElementTagNameMap[K]}
 */
function el (tag, attrs = {}, ...children) {
  const node = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue
    if (name === 'class') node.className = String(value)
    else if (name === 'text') node.textContent = String(value)
    else node.setAttribute(name, value === true ? '' : String(value))
  }
  for (const child of children) {
    if (child !== undefined && child !== null && child !== false) node.append(child)
  }
  return node
}

// ---- credentials -----------------------------------------------------------------------

function readToken () {
  try { return sessionStorage.getItem(TOKEN_KEY) } catch { return null }
}

/** @param {string | null} token */
function storeToken (token) {
  state.token = token
  try {
    if (token === null) sessionStorage.removeItem(TOKEN_KEY)
    else sessionStorage.setItem(TOKEN_KEY, token)
  } catch {}
}

/**
 * Call a JSON route. The custom header (and the JSON content type of bodies) cannot be sent
 * by a cross-site form, and a cross-site fetch sending them needs a preflight the routes never
 * grant: apps whose `authorize` trusts a cookie require the header to rule out forged runs.
 */
/**
 * @param {string} path
 * @param {{ method?: string, json?: unknown }} [options]
 * @returns {Promise<ApiAnswer>}
 */
async function api (path, { method = 'GET', json } = {}) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json', 'x-fastify-scheduler': 'ui' }
  if (state.token !== null) headers.authorization = `Bearer ${state.token}`
  /** @type {RequestInit} */
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store', redirect: 'error' }
  if (json !== undefined) {
    headers['content-type'] = 'application/json'
    init.body = JSON.stringify(json)
  }
  const response = await fetch(path, init)
  const text = await response.text()
  let data = null
  try { data = text === '' ? null : JSON.parse(text) } catch {}
  return { status: response.status, ok: response.ok, data }
}

/** @param {ApiAnswer} res */
function describeFailure (res) {
  const message = res.data !== null && typeof res.data.message === 'string' ? res.data.message : ''
  return `${res.status}${message !== '' ? `: ${message}` : ''}`
}

/** The routes answered 401: ask for a token, saying why when we had sent one. */
function askForToken () {
  let message = ''
  if (state.tokenJustEntered) message = 'The server refused this token (401 Unauthorized). Check it and try again.'
  else if (state.token !== null || state.signedIn) message = 'Your credentials are no longer accepted (401 Unauthorized). Sign in again.'
  storeToken(null)
  state.signedIn = false
  state.tokenJustEntered = false
  $('tasks').hidden = true
  $('history').hidden = true
  $('signout').hidden = true
  $('login').hidden = false
  const error = $('login-error')
  error.textContent = message
  error.hidden = message === ''
  $('token', HTMLInputElement).focus()
}

function signedIn () {
  state.signedIn = true
  state.tokenJustEntered = false
  $('login').hidden = true
  $('login-error').hidden = true
  $('tasks').hidden = false
  $('history').hidden = false
  $('signout').hidden = state.token === null
}

/** @param {string} message */
function showProblem (message) {
  const banner = $('problem')
  banner.textContent = message
  banner.hidden = message === ''
}

// ---- formatting ------------------------------------------------------------------------

const viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone
const formatters = new Map()

/**
 * A date in `zone` (default the viewer's); `seconds` for run times, minutes for schedule times.
 * @param {string} iso
 * @param {string} [zone]
 */
function formatTime (iso, zone, seconds = false) {
  const key = `${zone ?? ''}|${seconds}`
  let format = formatters.get(key)
  if (format === undefined) {
    /** @type {Intl.DateTimeFormatOptions} */
    const options = { dateStyle: 'medium', timeStyle: seconds ? 'medium' : 'short' }
    try {
      format = new Intl.DateTimeFormat(undefined, zone === undefined ? options : { ...options, timeZone: zone })
    } catch {
      format = new Intl.DateTimeFormat(undefined, options) // a zone this browser does not know
    }
    formatters.set(key, format)
  }
  // Every time says which zone it is in (docs/RUN-OUTPUT.md#the-dashboard).
  return `${format.format(new Date(iso))} ${zone ?? viewerZone}`
}

/**
 * "covers 21:43–21:44, 2 occurrences" for a run catch-up coalesced several occurrences into.
 * @param {{ from: string, to: string, count: number } | null | undefined} covers
 * @param {string} [zone]
 */
function coversText (covers, zone) {
  if (covers === null || covers === undefined) return ''
  /** @type {Intl.DateTimeFormatOptions} */
  const options = { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }
  let format
  try {
    format = new Intl.DateTimeFormat(undefined, zone === undefined ? options : { ...options, timeZone: zone })
  } catch {
    format = new Intl.DateTimeFormat(undefined, options)
  }
  const sameDay = Date.parse(covers.to) - Date.parse(covers.from) < 86_400_000
  const from = sameDay ? format.format(new Date(covers.from)) : formatTime(covers.from, zone)
  const to = sameDay ? format.format(new Date(covers.to)) : formatTime(covers.to, zone)
  return `covers ${from}–${to}${sameDay ? ` ${zone ?? viewerZone}` : ''}, ${covers.count} occurrences`
}

/**
 * How many tasks are failing and overdue: the health's cluster-wide counts, else the listing's.
 * @returns {{ failing: number, overdue: number } | null}
 */
function taskCounts () {
  const counts = state.health?.data?.tasks
  if (counts !== undefined && typeof counts.failing === 'number') return counts
  if (state.listing === null) return null
  return { failing: state.listing.tasks.filter(isFailing).length, overdue: 0 }
}

/** @param {TaskRow} task */
const isFailing = task => typeof task.consecutiveFailures === 'number' && task.consecutiveFailures > 0

function renderSummary () {
  const counts = taskCounts()
  const summary = $('summary')
  if (counts === null) {
    summary.hidden = true
    return
  }
  let text = `${counts.failing} task${counts.failing === 1 ? '' : 's'} failing, ${counts.overdue} overdue`
  const health = state.health
  if (health !== null && health.status !== 200 && typeof health.data?.reason === 'string') text += ` — unhealthy: ${health.data.reason}`
  summary.textContent = text
  summary.classList.toggle('bad', counts.failing > 0 || counts.overdue > 0 || (health !== null && health.status !== 200))
  summary.hidden = false
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' })

/**
 * "in 5 minutes", "2 hours ago", measured from the server's now (its clock is the truth).
 * @param {string} iso
 */
function fromNow (iso) {
  const now = state.listing !== null ? Date.parse(state.listing.now) : Date.now()
  const seconds = Math.round((Date.parse(iso) - now) / 1000)
  const abs = Math.abs(seconds)
  if (abs < 60) return relative.format(seconds, 'second')
  if (abs < 3600) return relative.format(Math.round(seconds / 60), 'minute')
  if (abs < 172_800) return relative.format(Math.round(seconds / 3600), 'hour')
  return relative.format(Math.round(seconds / 86_400), 'day')
}

/** @param {number | null | undefined} ms */
function formatDuration (ms) {
  if (typeof ms !== 'number') return NONE
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const minutes = Math.floor(ms / 60_000)
  if (minutes < 60) return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`
}

/** @param {string} status */
const statusWord = status => String(status).replace('_', ' ')
/** @param {string} status */
const badge = status => el('span', { class: `badge s-${status}`, text: statusWord(status) })
/** @param {unknown} value */
const orNone = value => value === undefined || value === null || value === '' ? NONE : String(value)
/** @param {unknown} value */
const yesNo = value => typeof value === 'boolean' ? (value ? 'yes' : 'no') : NONE

/**
 * A time in the viewer's zone, with the task's zone below when it differs.
 * @param {string} iso
 * @param {string} [zone]
 */
function timeInBothZones (iso, zone) {
  /** @type {Array<Node | string>} */
  const parts = [el('time', { datetime: iso, text: `${formatTime(iso)} (${fromNow(iso)})` })]
  if (zone !== undefined && zone !== viewerZone) parts.push(el('span', { class: 'sub', text: formatTime(iso, zone) }))
  return parts
}

/**
 * @param {string} term
 * @param {...(Node | string | null)} details
 */
function fact (term, ...details) {
  return el('div', {}, el('dt', { text: term }), el('dd', {}, ...details))
}

// ---- rendering ---------------------------------------------------------------------------

/**
 * Re-render without losing keyboard focus: elements with the same data-key get it back.
 * @param {() => void} render
 */
function keepingFocus (render) {
  const active = /** @type {HTMLElement | null} */ (document.activeElement)
  const key = active?.dataset?.key
  render()
  if (key !== undefined) /** @type {HTMLElement | null} */ (document.querySelector(`[data-key="${CSS.escape(key)}"]`))?.focus()
}

function renderHealth () {
  const health = state.health
  const listing = state.listing
  const facts = []
  if (health === null) {
    facts.push(fact('Status', el('span', { class: 'error-text', text: 'health route unreachable' })))
  } else {
    const status = health.data?.status ?? `HTTP ${health.status}`
    facts.push(fact('Status', el('span', { class: `badge ${health.status === 200 ? 's-succeeded' : 's-failed'}`, text: status })))
    if (typeof health.data?.reason === 'string' && health.data.reason !== '') facts.push(fact('Why', health.data.reason))
  }
  const lastTick = listing?.lastTick ?? health?.data?.lastTick ?? null
  facts.push(fact('Last tick (cluster)', ...(lastTick === null ? [NONE] : timeInBothZones(lastTick))))
  facts.push(fact('Store', listing === null ? NONE : `${listing.store.kind}${listing.store.durable ? '' : ' (not durable)'}`))
  facts.push(fact('This process', listing === null ? NONE : orNone(listing.instance)))
  facts.push(fact('Server time', listing === null ? NONE : formatTime(listing.now, undefined, true)))
  $('health-facts').replaceChildren(...facts)
}

/**
 * @param {RunSummary} run
 * @param {string} [zone] the task's zone, for covers
 */
function runSummary (run, zone) {
  const bits = [statusWord(run.status), formatTime(run.startedAt, undefined, true), formatDuration(run.durationMs)]
  if (run.attempt > 1) bits.push(`attempt ${run.attempt}`)
  if (run.forced === true) bits.push('forced')
  if (run.covers !== null && run.covers !== undefined) bits.push(coversText(run.covers, zone))
  if (typeof run.trigger === 'string') bits.push(`via ${run.trigger}`)
  if (typeof run.error === 'string' && run.error !== '') bits.push(run.error)
  return bits.join(' · ')
}

/**
 * The recent runs, oldest to newest, one cell each; hover or focus shows the run below.
 * @param {TaskRow} task
 */
function renderStrip (task) {
  const label = `Recent runs of ${task.name}, oldest first`
  if (!Array.isArray(task.recent)) return el('p', { class: 'muted', text: `Recent runs: ${NONE}` })
  const detail = el('p', { class: 'strip-detail', 'aria-live': 'polite' })
  const hint = task.recent.length === 0 ? 'No runs yet.' : 'Hover or focus a run for its details.'
  detail.textContent = hint
  const runs = [...task.recent].reverse()
  const cells = runs.map((run, i) => {
    const summary = runSummary(run, task.timezone)
    const cell = el('button', {
      type: 'button',
      class: `cell s-${run.status}`,
      title: summary,
      'aria-label': summary,
      tabindex: i === runs.length - 1 ? 0 : -1,
      'data-key': `cell:${task.name}:${run.id}`,
      'data-status': run.status
    })
    const show = () => { detail.textContent = summary }
    cell.addEventListener('mouseenter', show)
    cell.addEventListener('focus', show)
    cell.addEventListener('click', show)
    cell.addEventListener('mouseleave', () => { if (document.activeElement !== cell) detail.textContent = hint })
    cell.addEventListener('blur', () => { detail.textContent = hint })
    return cell
  })
  const strip = el('div', { class: 'strip', role: 'group', 'aria-label': label, 'data-task': task.name }, ...cells)
  // One tab stop per strip; the arrow keys move along it.
  strip.addEventListener('keydown', event => {
    const at = cells.indexOf(/** @type {HTMLButtonElement} */ (document.activeElement))
    if (at === -1) return
    /** @type {Record<string, number>} */
    const moves = { ArrowLeft: at - 1, ArrowRight: at + 1, Home: 0, End: cells.length - 1 }
    const to = moves[event.key]
    if (to === undefined || to < 0 || to >= cells.length) return
    event.preventDefault()
    cells[at].tabIndex = -1
    cells[to].tabIndex = 0
    cells[to].focus()
  })
  return el('div', {}, strip, detail)
}

/**
 * @param {TaskRow} task
 * @returns {Array<Node | string>}
 */
function renderNextRun (task) {
  if (task.nextRun === null) return [task.manual ? 'manual only' : task.enabled ? NONE : 'disabled']
  const parts = timeInBothZones(task.nextRun, task.timezone)
  if (Array.isArray(task.upcoming) && task.upcoming.length > 1) {
    parts.push(el('ul', { class: 'later', 'aria-label': 'then' },
      ...task.upcoming.slice(1).map(iso => el('li', {}, el('time', { datetime: iso, text: formatTime(iso) })))))
  }
  return parts
}

/** @param {TaskRow} task */
function renderLastRun (task) {
  const run = task.lastRun
  if (run === null || run === undefined) return [el('dd', { text: 'never' })]
  const when = `${formatTime(run.startedAt, undefined, true)} (${fromNow(run.startedAt)}), ${formatDuration(run.durationMs)}`
  const extra = []
  if (run.attempt !== undefined && run.attempt > 1) extra.push(`attempt ${run.attempt}`)
  if (run.forced === true) extra.push('forced')
  if (typeof run.trigger === 'string') extra.push(`via ${run.trigger}`)
  const details = [badge(run.status), ' ', el('span', { text: when + (extra.length > 0 ? ` · ${extra.join(' · ')}` : '') })]
  if (run.covers !== null && run.covers !== undefined) details.push(el('div', { class: 'covers', 'data-role': 'covers', text: coversText(run.covers, task.timezone) }))
  if (run.status !== 'succeeded') {
    const error = typeof run.error === 'string' && run.error !== '' ? run.error : NONE
    details.push(el('pre', { class: 'error', 'data-role': 'last-error', text: error }))
  }
  if (typeof run.output === 'string' && run.output !== '') {
    details.push(el('details', {}, el('summary', { text: 'output' }), el('pre', { class: 'output', 'data-role': 'output', text: run.output })))
  }
  return [el('dd', {}, ...details)]
}

/** @param {TaskRow} task */
function renderRunning (task) {
  const running = task.running
  if (running !== null && typeof running === 'object') {
    const bits = [`since ${formatTime(running.startedAt, undefined, true)}`]
    if (running.attempt > 1) bits.push(`attempt ${running.attempt}`)
    if (running.forced === true) bits.push('forced')
    if (typeof running.instance === 'string') bits.push(`on ${running.instance}`)
    return bits.join(' · ')
  }
  return task.runningNow ? 'yes' : 'no'
}

/** @param {string} name */
function renderOutcome (name) {
  const outcome = state.outcomes.get(name)
  return el('output', {
    class: `outcome${outcome?.kind !== undefined ? ` ${outcome.kind}` : ''}`,
    'data-role': 'outcome',
    text: outcome?.text ?? ''
  })
}

/** @param {TaskRow} task */
function renderTask (task) {
  const id = `task-${encodeURIComponent(task.name)}`
  const head = el('div', { class: 'card-head' }, el('h3', { id, text: task.name }))
  if (!task.enabled) head.append(el('span', { class: 'badge', text: 'disabled' }))
  if (task.manual) head.append(el('span', { class: 'badge', text: 'manual' }))
  if (task.runningNow || (task.running !== null && task.running !== undefined)) head.append(badge('running'))
  if (typeof task.consecutiveFailures === 'number' && task.consecutiveFailures > 0) {
    head.append(el('span', { class: 'badge s-failed', text: `${task.consecutiveFailures} failed in a row` }))
  }

  if (task.paused !== null && task.paused !== undefined) {
    head.append(el('span', { class: 'badge s-skipped', 'data-paused': task.name, text: task.paused.all ? 'paused (everything)' : 'paused' }))
  }

  const facts = el('dl', { class: 'facts' },
    fact('Schedule', task.schedule, task.cron === null ? null : el('code', { class: 'sub', text: task.cron })),
    fact('Zone', task.timezone),
    fact('Next run', ...renderNextRun(task)),
    el('div', {}, el('dt', { text: 'Last run' }), ...renderLastRun(task)),
    fact('Running', renderRunning(task)),
    fact('Failures in a row', orNone(task.consecutiveFailures)),
    task.paused === null || task.paused === undefined ? null : fact('Paused', pausedText(task.paused)),
    renderBackfills(task)
  )

  const button = el('button', { type: 'button', 'data-key': `run:${task.name}`, 'data-task': task.name, text: 'Run now' })
  button.addEventListener('click', () => confirmRun(task.name))
  // A task paused by the pause of everything is resumed with the global button.
  const ownPause = task.paused !== null && task.paused !== undefined && !task.paused.all
  const toggle = el('button', {
    type: 'button',
    'data-key': `${ownPause ? 'resume' : 'pause'}:${task.name}`,
    text: ownPause ? 'Resume' : 'Pause'
  })
  toggle.addEventListener('click', () => { void (ownPause ? resumeTask(task.name) : pauseTask(task.name)) })
  // A task with no schedule (manual only) has no past occurrences to backfill.
  let backfill = null
  if (!task.manual) {
    backfill = el('button', { type: 'button', 'data-key': `backfill:${task.name}`, text: 'Backfill…' })
    backfill.addEventListener('click', () => openBackfill(task.name))
  }
  const actions = el('div', { class: 'actions' }, ...renderPayloadEditor(task), button, toggle, backfill, renderOutcome(task.name))

  return el('article', { class: 'card task', 'aria-labelledby': id, 'data-task': task.name },
    head, facts, renderStrip(task), actions)
}

/**
 * A task's backfills in progress (docs/PAYLOADS.md#backfills): a bar and two lines each. An
 * occurrence counts as handled once it ran or was found already run; a finished backfill
 * leaves the listing, so it leaves the card.
 * @param {TaskRow} task
 */
function renderBackfills (task) {
  const backfills = Array.isArray(task.backfills) ? task.backfills : []
  if (backfills.length === 0) return null
  const row = fact('Backfill', ...backfills.map(backfill => {
    const handled = backfill.done + backfill.skipped
    // In the viewer's zone, as the backfill dialog takes them.
    const range = `${formatTime(backfill.from)} → ${formatTime(backfill.to)}`
    const next = backfill.next === null ? '' : ` · next ${formatTime(backfill.next)}`
    return el('div', { class: 'backfill', 'data-backfill': backfill.id },
      el('progress', { max: backfill.occurrences, value: handled, 'aria-label': `Backfill of ${task.name}: ${handled} of ${backfill.occurrences} occurrences handled` }),
      el('span', { 'data-role': 'backfill-count', text: `${handled} of ${backfill.occurrences} · ${backfill.done} run, ${backfill.skipped} already run` }),
      el('span', { class: 'sub', text: range + next }))
  }))
  row.className = 'wide' // the range is long: the whole card's width, below the other facts
  return row
}

/**
 * A pause as one line: since when, why, by whom.
 * @param {NonNullable<TaskRow['paused']>} paused
 */
function pausedText (paused) {
  return `since ${formatTime(paused.since, 'UTC')}${paused.reason === null ? '' : `: ${paused.reason}`}${paused.by === null ? '' : ` (by ${paused.by})`}`
}

function renderListing () {
  // Failing tasks first (docs/RUN-OUTPUT.md#the-dashboard), the rest in the listing's order.
  const tasks = [...state.listing.tasks].sort((a, b) => Number(isFailing(b)) - Number(isFailing(a)))
  renderSummary()
  const all = state.listing.paused
  const pauseAll = $('pause-all', HTMLButtonElement)
  pauseAll.textContent = all === null || all === undefined ? 'Pause everything' : 'Resume everything'
  pauseAll.dataset.paused = all === null || all === undefined ? 'false' : 'true'
  $('pause-all-state').textContent = all === null || all === undefined ? '' : `Everything paused ${pausedText(all)}`
  keepingFocus(() => {
    $('task-list').replaceChildren(...(tasks.length === 0 ? [el('p', { class: 'muted', text: 'No tasks.' })] : tasks.map(renderTask)))
  })
  // The history's task filter offers every task, and keeps a chosen one that has gone.
  const select = $('filter-task', HTMLSelectElement)
  const names = tasks.map(task => task.name)
  if (state.history.task !== '' && !names.includes(state.history.task)) names.push(state.history.task)
  select.replaceChildren(el('option', { value: '', text: 'All tasks' }), ...names.map(name => el('option', { value: name, text: name })))
  select.value = state.history.task
}

/** @param {HistoryPage} page */
function renderHistory (page) {
  const rows = page.runs.map(run => {
    const error = []
    if (typeof run.error === 'string' && run.error !== '') error.push(el('pre', { text: run.error }))
    if (typeof run.stack === 'string' && run.stack !== '') {
      error.push(el('details', {}, el('summary', { text: 'stack' }), el('pre', { text: run.stack })))
    }
    if (typeof run.output === 'string' && run.output !== '') {
      error.push(el('details', {}, el('summary', { text: 'output' }), el('pre', { class: 'output', text: run.output })))
    }
    const zone = state.listing?.tasks.find(task => task.name === run.task)?.timezone
    const status = [badge(run.status)]
    if (run.covers !== null && run.covers !== undefined) status.push(el('div', { class: 'covers', text: coversText(run.covers, zone) }))
    // data-label names each cell on a phone, where the rows are stacked cards.
    return el('tr', { 'data-run': run.id },
      el('td', { class: 'when', 'data-label': 'Started' }, el('time', { datetime: run.startedAt, text: formatTime(run.startedAt, undefined, true) })),
      el('td', { 'data-label': 'Task', text: run.task }),
      el('td', { 'data-label': 'Status' }, ...status),
      el('td', { 'data-label': 'Duration', text: formatDuration(run.durationMs) }),
      el('td', { 'data-label': 'Trigger', text: orNone(run.trigger) }),
      el('td', { 'data-label': 'Attempt', text: orNone(run.attempt) }),
      el('td', { 'data-label': 'Forced', text: yesNo(run.forced) }),
      el('td', { 'data-label': 'Process', text: orNone(run.instance) }),
      el('td', { class: 'err', 'data-label': 'Error' }, ...(error.length > 0 ? error : [NONE])))
  })
  if (rows.length === 0) rows.push(el('tr', {}, el('td', { colspan: 9, class: 'muted', text: 'No runs match.' })))
  $('history-rows').replaceChildren(...rows)
  const first = page.total === 0 ? 0 : page.offset + 1
  const last = page.offset + page.runs.length
  $('page-info').textContent = `${first}–${last} of ${page.total}`
  $('newer', HTMLButtonElement).disabled = page.offset === 0
  $('older', HTMLButtonElement).disabled = last >= page.total
}

// ---- loading -----------------------------------------------------------------------------

async function loadHealth () {
  try {
    state.health = await api(routes.health)
  } catch {
    state.health = null
  }
}

/** The listing; false when it could not be shown (401 asks for a token). */
async function loadListing () {
  const res = await api(routes.listing + state.listingQuery)
  if (res.status === 401) {
    askForToken()
    return false
  }
  if (!res.ok) {
    showProblem(`The task listing could not be read (${describeFailure(res)}).`)
    return false
  }
  signedIn()
  state.listing = res.data
  renderListing()
  return true
}

async function loadHistory () {
  const query = new URLSearchParams({ limit: String(HISTORY_PAGE), offset: String(state.history.offset) })
  if (state.history.task !== '') query.set('task', state.history.task)
  if (state.history.status !== '') query.set('status', state.history.status)
  const res = await api(`${routes.runs}?${query}`)
  if (res.status === 401) return askForToken()
  if (!res.ok) return showProblem(`The run history could not be read (${describeFailure(res)}).`)
  keepingFocus(() => renderHistory(res.data))
}

async function refreshOnce () {
  try {
    const health = loadHealth()
    showProblem('')
    if (await loadListing()) await loadHistory()
    await health
    $('updated').textContent = `Updated ${new Date().toLocaleTimeString()}`
  } catch (err) {
    showProblem(`The server could not be reached (${/** @type {Error} */ (err).message}).`)
  }
  renderHealth()
  if (state.signedIn) renderSummary()
}

/** @type {Promise<void> | null} */
let refreshing = null
let refreshAgain = false

/** Refresh everything; a refresh asked for while one runs happens once, right after it. */
function refresh () {
  if (refreshing !== null) {
    refreshAgain = true
    return refreshing
  }
  refreshing = (async () => {
    do {
      refreshAgain = false
      await refreshOnce()
    } while (refreshAgain)
  })().finally(() => { refreshing = null })
  return refreshing
}

// ---- run now -------------------------------------------------------------------------------

/** @param {string} name */
/**
 * A JSON editor for the payload of "Run now", for tasks that declare a payload schema
 * (docs/PAYLOADS.md#payloads). Its text survives the listing's refreshes.
 * @param {TaskRow} task
 * @returns {HTMLElement[]}
 */
function renderPayloadEditor (task) {
  if (task.acceptsPayload !== true) return []
  const attrs = {
    class: 'payload',
    rows: '3',
    spellcheck: 'false',
    'data-key': `payload:${task.name}`,
    'aria-label': `Payload (JSON) for ${task.name}`,
    placeholder: 'Payload (JSON), optional'
  }
  const editor = /** @type {HTMLTextAreaElement} */ (el('textarea', attrs))
  editor.value = state.payloads.get(task.name) ?? ''
  editor.addEventListener('input', () => { state.payloads.set(task.name, editor.value) })
  return [editor]
}

/** @param {string} name */
function confirmRun (name) {
  state.confirming = name
  $('confirm-text').textContent = `Run “${name}” now, whatever its schedule says? It runs even if it is not due.`
  $('confirm', HTMLDialogElement).showModal()
  $('confirm-cancel').focus()
}

/**
 * @param {string} name
 * @param {ApiAnswer} res
 * @returns {Outcome}
 */
function outcomeText (name, res) {
  const answer = res.data ?? {}
  /** @param {unknown} list @returns {any} */
  const find = list => Array.isArray(list) ? list.find(item => item.task === name) : undefined
  const ran = find(answer.ran)
  if (ran !== undefined) return { kind: 'good', text: `Succeeded in ${formatDuration(ran.durationMs)}.` }
  const failed = find(answer.failed)
  if (failed !== undefined) return { kind: 'bad', text: `${statusWord(failed.status)}: ${failed.error ?? 'no message'}` }
  const running = find(answer.running)
  if (running !== undefined) return { text: 'Started; still running.' }
  const skipped = find(answer.skipped)
  if (skipped !== undefined) return { kind: 'bad', text: `Not run: ${skipped.reason ?? statusWord(skipped.status)}.` }
  const unavailable = find(answer.unavailable)
  if (unavailable !== undefined) return { kind: 'bad', text: `Store unavailable: ${unavailable.error}` }
  return { kind: 'bad', text: `The run could not be started (${describeFailure(res)}).` }
}

/**
 * The "Run now" button of a task, if shown.
 * @param {string} name
 * @returns {HTMLButtonElement | null}
 */
function runButton (name) {
  return document.querySelector(`button[data-key="${CSS.escape(`run:${name}`)}"]`)
}

/** @param {string} name */
async function runNow (name) {
  state.outcomes.set(name, { text: 'Running…' })
  const button = runButton(name)
  if (button !== null) button.disabled = true
  const output = button?.parentElement?.querySelector('output')
  if (output) output.textContent = 'Running…'
  try {
    const text = (state.payloads.get(name) ?? '').trim()
    /** @type {unknown} */
    let payload
    if (text !== '') {
      try {
        payload = JSON.parse(text)
      } catch (err) {
        state.outcomes.set(name, { kind: 'bad', text: `The payload is not JSON (${/** @type {Error} */ (err).message}); nothing ran.` })
        await refresh()
        return
      }
    }
    const res = await api(routes.run, { method: 'POST', json: payload === undefined ? { task: name, force: true } : { task: name, payload } })
    if (res.status === 401) return askForToken()
    state.outcomes.set(name, outcomeText(name, res))
  } catch (err) {
    state.outcomes.set(name, { kind: 'bad', text: `The server could not be reached (${/** @type {Error} */ (err).message}).` })
  }
  await refresh()
  runButton(name)?.focus()
}

// ---- pause and resume (docs/PAUSE.md) --------------------------------------------------------

/**
 * Send a pause or resume, then show what it did and refresh.
 * @param {string} path
 * @param {unknown} json
 * @param {string} key the task whose outcome line shows it ('' for everything)
 */
async function sendPause (path, json, key) {
  try {
    const res = await api(path, { method: 'POST', json })
    if (res.status === 401) return askForToken()
    if (!res.ok) {
      state.outcomes.set(key, { kind: 'bad', text: `Not done (${describeFailure(res)}).` })
    } else if (res.data?.resumed === false) {
      state.outcomes.set(key, { text: 'It was not paused.' })
    } else {
      const skipped = Array.isArray(res.data?.skipped) ? res.data.skipped.reduce((/** @type {number} */ n, /** @type {{ occurrences: number }} */ s) => n + s.occurrences, 0) : 0
      state.outcomes.set(key, { kind: 'good', text: res.data?.paused !== undefined && res.data?.resumed === undefined ? 'Paused.' : `Resumed${skipped > 0 ? `; ${skipped} held-back occurrence${skipped === 1 ? '' : 's'} skipped` : ''}.` })
    }
  } catch (err) {
    state.outcomes.set(key, { kind: 'bad', text: `The server could not be reached (${/** @type {Error} */ (err).message}).` })
  }
  await refresh()
}

/** @param {string} name */
async function pauseTask (name) {
  const reason = prompt(`Pause “${name}” on every replica. Why? (shown in the listing)`)
  if (reason === null) return
  await sendPause(routes.task(name, 'pause'), reason.trim() === '' ? { by: 'dashboard' } : { reason: reason.trim(), by: 'dashboard' }, name)
}

/** @param {string} name */
async function resumeTask (name) {
  await sendPause(routes.task(name, 'resume'), {}, name)
}

$('pause-all').addEventListener('click', () => {
  if ($('pause-all').dataset.paused === 'true') {
    void sendPause(routes.resumeAll, {}, '')
    return
  }
  const reason = prompt('Pause every task on every replica (maintenance). Why?')
  if (reason === null) return
  void sendPause(routes.pauseAll, reason.trim() === '' ? { by: 'dashboard' } : { reason: reason.trim(), by: 'dashboard' }, '')
})

// ---- backfill (docs/PAYLOADS.md#backfills) ---------------------------------------------------

/**
 * A date as a datetime-local input's value, in the viewer's zone.
 * @param {Date} date
 */
function localInputValue (date) {
  const pad = (/** @type {number} */ n) => String(n).padStart(2, '0')
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`
}

/** @param {string} name */
function openBackfill (name) {
  state.backfilling = name
  // The range ends at the server's current minute: a backfill may not reach into the future.
  const now = new Date(state.listing !== null ? Date.parse(state.listing.now) : Date.now())
  now.setSeconds(0, 0)
  $('backfill-text').textContent = `Run every occurrence of “${name}” in this range once, oldest first, one per tick. Occurrences that already ran are skipped. Times are in your zone, ${viewerZone}.`
  $('backfill-from', HTMLInputElement).value = localInputValue(new Date(now.getTime() - 3_600_000))
  $('backfill-to', HTMLInputElement).value = localInputValue(now)
  $('backfill-error').hidden = true
  $('backfill', HTMLDialogElement).showModal()
  $('backfill-from').focus()
}

/**
 * Start the backfill the dialog holds; a refusal (400 naming why) stays in the dialog.
 * @param {string} name
 */
async function startBackfill (name) {
  const error = $('backfill-error')
  const from = new Date($('backfill-from', HTMLInputElement).value)
  const to = new Date($('backfill-to', HTMLInputElement).value)
  if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime())) {
    error.textContent = 'Give both ends of the range.'
    error.hidden = false
    return
  }
  let res
  try {
    res = await api(routes.task(name, 'backfill'), { method: 'POST', json: { from: from.toISOString(), to: to.toISOString() } })
  } catch (err) {
    error.textContent = `The server could not be reached (${/** @type {Error} */ (err).message}).`
    error.hidden = false
    return
  }
  if (res.status === 401) {
    $('backfill', HTMLDialogElement).close()
    return askForToken()
  }
  if (!res.ok) {
    error.textContent = `Not started (${describeFailure(res)}).`
    error.hidden = false
    return
  }
  const count = `${res.data.occurrences} occurrence${res.data.occurrences === 1 ? '' : 's'}`
  state.outcomes.set(name, res.data.created === false
    ? { text: `That backfill (${count}) is already in progress.` }
    : { kind: 'good', text: `Backfill of ${count} started; it runs one occurrence per tick.` })
  $('backfill', HTMLDialogElement).close()
  await refresh()
}

$('backfill-form').addEventListener('submit', event => {
  event.preventDefault() // never navigates: form-action is 'none'
  const name = state.backfilling
  if (name !== null) void startBackfill(name)
})
$('backfill-cancel').addEventListener('click', () => $('backfill', HTMLDialogElement).close())
$('backfill').addEventListener('close', () => {
  const name = state.backfilling
  state.backfilling = null
  if (name !== null) /** @type {HTMLElement | null} */ (document.querySelector(`button[data-key="${CSS.escape(`backfill:${name}`)}"]`))?.focus()
})

// ---- wiring --------------------------------------------------------------------------------

$('login-form').addEventListener('submit', event => {
  event.preventDefault() // never navigates: form-action is 'none'
  const token = $('token', HTMLInputElement).value.trim()
  if (token === '') return
  $('token', HTMLInputElement).value = ''
  storeToken(token)
  state.tokenJustEntered = true
  void refresh()
})

$('signout').addEventListener('click', () => {
  storeToken(null)
  state.signedIn = false
  askForToken()
})

$('confirm-cancel').addEventListener('click', () => $('confirm', HTMLDialogElement).close())
$('confirm-run').addEventListener('click', () => {
  const name = state.confirming
  $('confirm', HTMLDialogElement).close()
  if (name !== null) void runNow(name)
})
$('confirm').addEventListener('close', () => {
  const name = state.confirming
  state.confirming = null
  if (name !== null) runButton(name)?.focus()
})

$('filter-task', HTMLSelectElement).addEventListener('change', event => {
  state.history.task = /** @type {HTMLSelectElement} */ (event.target).value
  state.history.offset = 0
  void loadHistory()
})
$('filter-status', HTMLSelectElement).addEventListener('change', event => {
  state.history.status = /** @type {HTMLSelectElement} */ (event.target).value
  state.history.offset = 0
  void loadHistory()
})
$('newer').addEventListener('click', () => {
  state.history.offset = Math.max(0, state.history.offset - HISTORY_PAGE)
  void loadHistory()
})
$('older').addEventListener('click', () => {
  state.history.offset += HISTORY_PAGE
  void loadHistory()
})

$('refresh').addEventListener('click', () => { void refresh() })

// Auto-refresh while signed in and visible; catch up at once when the tab comes back.
setInterval(() => {
  if (state.signedIn && !document.hidden && $('auto', HTMLInputElement).checked) void refresh()
}, REFRESH_MS)
document.addEventListener('visibilitychange', () => {
  if (state.signedIn && !document.hidden && $('auto', HTMLInputElement).checked) void refresh()
})

void refresh()
