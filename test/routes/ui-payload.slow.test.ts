/**
 * The dashboard's payload editor in a real headless Chromium (docs/PAYLOADS.md#payloads): a
 * task with a payload schema gets a JSON editor; "Run now" sends the payload, the task reads
 * it, the run is recorded with trigger `ui`; invalid JSON runs nothing; a payload the schema
 * refuses shows the server's message and runs nothing. (Backfill progress: not built yet.)
 */
import t from 'tap'
import Type from 'typebox'
import { defineTask } from '../../tasks/task.js'
import { chromiumFor, chromiumProblem, openDashboard } from '../helpers/browser.js'
import { needs } from '../helpers/services.js'
import { buildRoutesApp, TOKEN } from './helpers.js'

t.test('run now with a payload from the dashboard', needs(chromiumProblem()), async t => {
  const { context } = await chromiumFor(t)
  const seen: unknown[] = []
  const { app } = await buildRoutesApp({
    plugin: {
      tasks: [
        defineTask({ name: 'refund', payload: Type.Object({ orderId: Type.String({ minLength: 1 }) }), handle ({ payload }) { seen.push(payload) } }),
        defineTask({ name: 'plain', runEveryHour: true, handle () { seen.push('plain') } })
      ]
    }
  })
  t.teardown(() => app.close())

  const page = await openDashboard(t, context, app, TOKEN)
  const refund = page.locator('article[data-task="refund"]')
  await refund.waitFor()
  t.equal(await page.locator('article[data-task="plain"] textarea').count(), 0, 'no editor for a task without a schema')
  const editor = refund.getByRole('textbox', { name: 'Payload (JSON) for refund' })

  const runNow = async (): Promise<void> => {
    await refund.getByRole('button', { name: 'Run now' }).click()
    await page.locator('#confirm-run').click()
  }

  await editor.fill('{ not json')
  await runNow()
  await refund.locator('output', { hasText: /payload is not JSON/ }).waitFor()
  t.same(seen, [], 'invalid JSON runs nothing')

  await editor.fill('{ "orderId": "" }')
  await runNow()
  await refund.locator('output', { hasText: /400: task "refund".*payload\.orderId/ }).waitFor()
  t.same(seen, [], 'a payload the schema refuses runs nothing')

  await editor.fill('{ "orderId": "o-42" }')
  await runNow()
  await refund.locator('output', { hasText: /^Succeeded in \d+ ms\.$/ }).waitFor()
  t.same(seen, [{ orderId: 'o-42' }], 'the task read the payload')
  const [run] = (await app.scheduler.history({ task: ['refund'] })).runs
  t.match(run, { trigger: 'ui', forced: true, payload: '{"orderId":"o-42"}' }, 'recorded with trigger ui and its payload')
  t.equal(await editor.inputValue(), '{ "orderId": "o-42" }', 'the editor keeps its text across the refresh')
})
