/**
 * The Redis store's Lua scripts: each a `.lua` file beside this one (copied next to the
 * compiled code by the build), read once when this module loads and defined on a client
 * with `defineCommand`, so every call is one EVALSHA that Redis runs atomically. See
 * `docs/ARCHITECTURE.md#the-store-contract`.
 */
import { readFileSync } from 'node:fs'
import { RUN_FIELDS } from '../driver.js'
import { SETTLED_STATUSES } from '../history.js'

function lua (file: string): string {
  return readFileSync(new URL(`./scripts/${file}`, import.meta.url), 'utf8')
}

/**
 * The run helpers (`scripts/runs.lua`) behind a header that gives them the stored fields
 * and the settled statuses from the TypeScript lists, so both sides read one definition.
 */
const RUN_HELPERS = `local RUN_FIELDS = { ${RUN_FIELDS.map((f) => `'${f}'`).join(', ')} }
local SETTLED = { ${SETTLED_STATUSES.map((s) => `['${s}'] = true`).join(', ')} }
${lua('runs.lua')}`

/** A script that reads or writes run hashes: the helpers, then its own body. */
const withRunHelpers = (file: string): string => `${RUN_HELPERS}\n${lua(file)}`

/** Every script, by the command name it is defined under; `numberOfKeys` absent: the caller passes it first. */
export const SCRIPTS = {
  fastifySchedulerInit: { numberOfKeys: 1, lua: lua('init.lua') },
  fastifySchedulerEnsureTasks: { numberOfKeys: 3, lua: lua('ensure-tasks.lua') },
  fastifySchedulerStartRun: { numberOfKeys: 13, lua: withRunHelpers('start-run.lua') },
  fastifySchedulerRenewLease: { numberOfKeys: 3, lua: lua('renew-lease.lua') },
  fastifySchedulerReleaseLease: { numberOfKeys: 2, lua: lua('release-lease.lua') },
  fastifySchedulerFinishRun: { numberOfKeys: 8, lua: withRunHelpers('finish-run.lua') },
  fastifySchedulerAbandonExpired: { numberOfKeys: 3, lua: withRunHelpers('abandon-expired.lua') },
  fastifySchedulerRetryAbandoned: { numberOfKeys: 4, lua: withRunHelpers('retry-abandoned.lua') },
  fastifySchedulerStartBackfill: { numberOfKeys: 8, lua: withRunHelpers('start-backfill.lua') },
  fastifySchedulerCreateBackfill: { numberOfKeys: 1, lua: lua('create-backfill.lua') },
  fastifySchedulerHeartbeat: { numberOfKeys: 6, lua: lua('heartbeat.lua') },
  fastifySchedulerRebase: { numberOfKeys: 4, lua: lua('rebase.lua') },
  fastifySchedulerPause: { numberOfKeys: 1, lua: lua('pause.lua') },
  fastifySchedulerResume: { lua: withRunHelpers('resume.lua') },
  fastifySchedulerListRuns: { numberOfKeys: 2, lua: withRunHelpers('list-runs.lua') },
  fastifySchedulerRecentRuns: { lua: withRunHelpers('recent-runs.lua') }
} as const

export type ScriptName = keyof typeof SCRIPTS
