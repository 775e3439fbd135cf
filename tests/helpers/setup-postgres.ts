/** The `postgres` project's suites: `useFreshDatabase` hands out PostgreSQL databases (tests/helpers/runtime.ts). */
process.env.TEST_DATABASE = 'postgres';
