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

module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/tests'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.(t|j|mj)s$': swc },
  transformIgnorePatterns: ['/node_modules/(?!(@middy|file-type|strtok3|token-types|peek-readable|uint8array-extras|@tokenizer|@borewit|@scure)/)'],
  setupFiles: ['<rootDir>/tests/helpers/setup-env.ts'],
  testTimeout: 30_000,
  // Integration suites each start their own S3 server and SQLite file; two workers fit 2 cores.
  maxWorkers: 2,
};
