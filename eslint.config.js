// The Fastify organisation's lint: neostandard (standard's rules, flat config), with TypeScript.
import neostandard from 'neostandard'
import globals from 'globals'

export default [
  ...neostandard({
    ts: true,
    ignores: ['dist/**', 'coverage/**', '.tap/**', 'test-output/**', 'node_modules/**', 'test/fixtures/**/syntax-error*', 'test/fixtures/**/bad-*']
  }),
  {
    // `void promise` marks a promise left unawaited on purpose (it handles its own errors).
    rules: { 'no-void': ['error', { allowAsStatement: true }] }
  },
  {
    // The dashboard's script runs in the browser.
    files: ['routes/ui/**/*.js'],
    languageOptions: { globals: globals.browser }
  }
]
