import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EMBEDDED_S3_CREDENTIALS, startEmbeddedS3 } from '../../infra/local/embedded-s3';
import { resetSigningKey } from '../../lib/auth/signing-key';
import { resetConfig } from '../../lib/config';
import { closeDb } from '../../lib/db/connection';
import { resetMfaKey } from '../../lib/mfa/secret-box';
import { resetScanner } from '../../lib/scan/get-scanner';
import { createTestDatabase } from './postgres-server';
import { resetS3 } from '../../lib/storage/s3';
import { S3Client } from '@aws-sdk/client-s3';

/**
 * Forgets every lazily created client, so the next call sees the current `process.env`.
 * Await it where the database must be closed before going on (PostgreSQL pools close async).
 */
export function resetRuntime(): Promise<void> {
  const closed = closeDb();
  resetS3();
  resetSigningKey();
  resetMfaKey();
  resetScanner();
  resetConfig();
  return closed;
}

export interface TestStorage {
  readonly endpoint: string;
  readonly bucket: string;
  readonly directory: string;
  /** The bucket's CORS origins (empty: any), as the local runtime sets them. */
  allowOrigins(origins: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * A real S3-compatible server (the local runtime's embedded s3rver, which verifies SigV4 like
 * AWS) on a free port, with a fresh bucket, and the environment pointed at it.
 */
export async function startTestStorage(bucket = 'uploads'): Promise<TestStorage> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'sua-s3-'));
  const server = await startEmbeddedS3({ host: '127.0.0.1', port: 0, directory, bucket, credentials: EMBEDDED_S3_CREDENTIALS });
  const endpoint = `http://127.0.0.1:${server.port}`;
  Object.assign(process.env, {
    S3_ENDPOINT: endpoint,
    S3_BUCKET: bucket,
    S3_ACCESS_KEY_ID: EMBEDDED_S3_CREDENTIALS.accessKeyId,
    S3_SECRET_ACCESS_KEY: EMBEDDED_S3_CREDENTIALS.secretAccessKey,
  });
  return { endpoint, bucket, directory, allowOrigins: (origins) => server.allowOrigins(origins), close: () => server.close() };
}

/** Which engine this run's suites use: the `postgres` Jest project sets TEST_DATABASE (tests/helpers/setup-postgres.ts). */
export const testDialect = (): 'sqlite' | 'postgres' => (process.env.TEST_DATABASE === 'postgres' ? 'postgres' : 'sqlite');

/**
 * A fresh, empty database for this test file, set as DATABASE_URL: a new SQLite file (in
 * `journalMode`), or, in the `postgres` project, a new database on the suite's PostgreSQL.
 * Resolves with the DATABASE_URL. Tests look inside through `getDb()`, the same on both.
 */
export async function useFreshDatabase(journalMode: 'WAL' | 'DELETE' = 'WAL'): Promise<string> {
  await closeDb();
  if (testDialect() === 'postgres') {
    const adminUrl = process.env.TEST_DATABASE_URL;
    if (!adminUrl) throw new Error('TEST_DATABASE=postgres needs TEST_DATABASE_URL (the postgres project\'s global setup sets it)');
    delete process.env.SQLITE_JOURNAL_MODE;
    process.env.DATABASE_URL = await createTestDatabase(adminUrl);
    return process.env.DATABASE_URL;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sua-db-'));
  const file = path.join(dir, 'test.db');
  process.env.DATABASE_URL = `sqlite:///${file}`;
  process.env.SQLITE_JOURNAL_MODE = journalMode;
  return process.env.DATABASE_URL;
}

/**
 * An SDK client for the embedded server, set up like the API's own (path style, checksums only
 * when required); the test storage's key pair unless a test wants another.
 */
export function testS3Client(endpoint: string, credentials: { accessKeyId: string; secretAccessKey: string } = EMBEDDED_S3_CREDENTIALS): S3Client {
  return new S3Client({
    endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}
