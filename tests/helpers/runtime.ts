import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { resetSigningKey } from '../../lib/auth/signing-key';
import { resetConfig } from '../../lib/config';
import { closeDb } from '../../lib/db/connection';
import { resetS3 } from '../../lib/storage/s3';

/** Forgets every lazily created client, so the next call sees the current `process.env`. */
export function resetRuntime(): void {
  closeDb();
  resetS3();
  resetSigningKey();
  resetConfig();
}

export interface TestStorage {
  readonly endpoint: string;
  readonly bucket: string;
  readonly directory: string;
  close(): Promise<void>;
}

/**
 * A real S3-compatible server (s3rver: verifies SigV4 signatures and expiry) on a free port,
 * with a fresh bucket, and the environment pointed at it.
 */
export async function startTestStorage(bucket = 'uploads'): Promise<TestStorage> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'sua-s3-'));
  const s3rver = new S3rver({ silent: true, directory, vhostBuckets: false, configureBuckets: [{ name: bucket, configs: [] }] });
  await s3rver.configureBuckets();
  const server = http.createServer(s3rver.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  Object.assign(process.env, {
    S3_ENDPOINT: endpoint,
    S3_BUCKET: bucket,
    S3_ACCESS_KEY_ID: 'S3RVER',
    S3_SECRET_ACCESS_KEY: 'S3RVER',
  });
  return {
    endpoint,
    bucket,
    directory,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A fresh SQLite file for this test file, set as DATABASE_URL. */
export function useFreshDatabase(journalMode: 'WAL' | 'DELETE' = 'WAL'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sua-db-'));
  const file = path.join(dir, 'test.db');
  process.env.DATABASE_URL = `sqlite:///${file}`;
  process.env.SQLITE_JOURNAL_MODE = journalMode;
  return file;
}
