/** Jest global setup of the `postgres` project: the server its suites run against (see postgres-server.ts). */
import { startEmbeddedPostgres } from './postgres-server';

export default async function setup(): Promise<void> {
  if (process.env.TEST_DATABASE_URL) return;
  const server = await startEmbeddedPostgres();
  // Workers start after global setup and inherit the environment.
  process.env.TEST_DATABASE_URL = server.url;
  (globalThis as { __embeddedPostgres?: { stop(): Promise<void> } }).__embeddedPostgres = server;
}
