/**
 * The environment for a child process a test starts (a replica, a crasher, the CLI). tap
 * tracks every child and would merge its coverage into the run's; children run our sources
 * through tsx, whose source maps differ from the test runner's, and the merge corrupts the
 * report of every file both load. So a child's coverage is switched off (tap's processinfo
 * keeps no file matching `/./`); its behaviour is asserted by the tests instead.
 */
export function untrackedEnv (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, ...extra, _TAPJS_PROCESSINFO_COV_EXCLUDE_: '/./' }
}
