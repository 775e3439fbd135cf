/**
 * Jest runs the TypeScript sources through SWC (transpile only; `tsc --noEmit` does the type
 * checking in `npm test`). Middy and other ESM-only packages are transformed to CommonJS too,
 * since Jest's stable module system is CommonJS.
 * @type {import('jest').Config}
 */
const swc = [
  '@swc/jest',
  {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  },
];

const fs = require('node:fs');
const path = require('node:path');

const common = {
  testEnvironment: 'node',
  rootDir: __dirname,
  roots: ['<rootDir>/tests'],
  transform: { '^.+\\.(t|j|mj)s$': swc },
  transformIgnorePatterns: ['/node_modules/(?!(@middy|file-type|strtok3|token-types|peek-readable|uint8array-extras|@tokenizer|@borewit|@scure)/)'],
};

/**
 * Every suite that asks for its database through `useFreshDatabase` (or, for the end-to-end
 * suites that start `npm start`, `runtimeDatabaseEnv`) runs twice: on SQLite and on PostgreSQL.
 * Found by reading the suites, so a suite joins the PostgreSQL run by using the helper, not by
 * being listed here. Suites without a database (unit, infra) and those about SQLite itself run
 * once.
 */
function suitesUsingADatabase() {
  const found = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.name.endsWith('.test.ts') && /useFreshDatabase|runtimeDatabaseEnv/.test(fs.readFileSync(file, 'utf8'))) found.push(file);
    }
  };
  walk(path.join(__dirname, 'tests'));
  return found;
}

module.exports = {
  projects: [
    {
      ...common,
      displayName: 'sqlite',
      testMatch: ['**/*.test.ts'],
      setupFiles: ['<rootDir>/tests/helpers/setup-env.ts'],
    },
    {
      ...common,
      displayName: 'postgres',
      testMatch: suitesUsingADatabase(),
      setupFiles: ['<rootDir>/tests/helpers/setup-env.ts', '<rootDir>/tests/helpers/setup-postgres.ts'],
      globalSetup: '<rootDir>/tests/helpers/postgres-global-setup.ts',
      globalTeardown: '<rootDir>/tests/helpers/postgres-global-teardown.ts',
    },
  ],
  testTimeout: 30_000,
  // Integration suites each start their own S3 server and database; two workers fit 2 cores.
  maxWorkers: 2,
};
