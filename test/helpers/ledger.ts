/**
 * The ground truth of the fault tests: a ledger the task writes itself (not the store's
 * history). `reportLedger` compares it with what was owed and prints one line that
 * `npm run reliability` turns into a row: `# fault: <what>: owed N, ran N, lost N, duplicated N`.
 */
import type { Test } from 'tap'

export interface LedgerReport {
  owed: number
  ran: number
  /** Owed entries that never ran. */
  lost: number
  /** Runs beyond the first of each entry. */
  duplicated: number
}

/** Compare the runs the task recorded with what was owed; print the reliability line; return the counts. */
export function reportLedger (t: Test, what: string, owed: readonly string[], ran: readonly string[]): LedgerReport {
  const counts = new Map<string, number>()
  for (const entry of ran) counts.set(entry, (counts.get(entry) ?? 0) + 1)
  const report: LedgerReport = {
    owed: owed.length,
    ran: ran.length,
    lost: owed.filter(entry => !counts.has(entry)).length,
    duplicated: [...counts.values()].reduce((sum, count) => sum + count - 1, 0)
  }
  t.comment(`fault: ${what}: owed ${report.owed}, ran ${report.ran}, lost ${report.lost}, duplicated ${report.duplicated}`)
  return report
}
