/**
 * The layers of fastify-scheduler (docs/ARCHITECTURE.md#the-layers): imports point down only,
 * never up and never in a circle.
 *
 *   index.ts, plugin.ts, store.ts, testing.ts   the top: may import any layer
 *   cli/      routes/, plugin/, tasks/, core/
 *   routes/   plugin/, tasks/, core/
 *   plugin/   tasks/, core/
 *   tasks/    core/
 *   core/     nothing of the project
 *
 * Run by `npm run lint`.
 */
const TOP = '^(index|store|testing|plugin)\\.ts$'

/** A rule forbidding `from` to import any of the project folders in `folders`, or the top files. */
function below (name, from, folders, comment) {
  return {
    name,
    comment,
    severity: 'error',
    from: { path: `^${from}/` },
    to: { path: folders.length === 0 ? [TOP] : [`^(${folders.join('|')})/`, TOP] }
  }
}

module.exports = {
  forbidden: [
    below('core-imports-nothing', 'core', ['tasks', 'plugin', 'routes', 'cli'],
      'core/ is the bottom layer: it imports nothing from the project'),
    below('tasks-imports-core-only', 'tasks', ['plugin', 'routes', 'cli'],
      'the task model (tasks/) imports only core/'),
    below('plugin-imports-tasks-and-core', 'plugin', ['routes', 'cli'],
      'plugin/ imports only tasks/ and core/ (and its own files); the wiring with routes/ is plugin.ts at the top'),
    below('routes-import-plugin-tasks-core', 'routes', ['cli'],
      'routes/ imports plugin/, tasks/ and core/, never cli/ or the top'),
    below('cli-imports-below', 'cli', [],
      'cli/ imports any layer below it, never the public doors at the top'),
    {
      name: 'no-circular',
      comment: 'no import cycles, within a layer or across',
      severity: 'error',
      from: {},
      to: { circular: true }
    },
    {
      name: 'no-unresolvable',
      comment: 'every relative import resolves to a file',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true }
    }
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|test|bench|example-app)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // Packages that publish only an `exports` map (typebox, tsx's APIs).
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default']
    }
  }
}
