import { getSecretString } from '../aws/secrets-manager';
import { getConfig } from '../config';
import type { Database } from './database';

export type { Database, Queryable, RunResult, SqlValue } from './database';
export { isUniqueViolation } from './database';

let db: Database | undefined;

/**
 * This container's database, chosen by `DATABASE_URL`: opened (and migrated) on first use.
 * Each engine's module is loaded only when chosen, so a bundle for Aurora never needs the native
 * SQLite driver and a SQLite one never starts the PostgreSQL client.
 */
export function getDb(): Database {
  if (!db) db = openConfigured();
  return db;
}

function openConfigured(): Database {
  const { database } = getConfig();
  if (database.dialect === 'postgres') {
    const { PostgresDatabase } = require('./postgres') as typeof import('./postgres');
    const { secretArn } = database;
    return new PostgresDatabase({
      url: database.url,
      poolMax: database.poolMax,
      ...(secretArn ? { credentials: () => credentialsFromSecret(secretArn) } : {}),
    });
  }
  const { openSqlite } = require('./sqlite') as typeof import('./sqlite');
  return openSqlite(database.path, { journalMode: database.journalMode });
}

/** The RDS-generated secret's JSON: `{"username": ..., "password": ..., "host": ..., ...}`; only the credentials are used. */
async function credentialsFromSecret(arn: string): Promise<{ user: string; password: string }> {
  const secret = JSON.parse(await getSecretString(arn)) as { username?: unknown; password?: unknown };
  if (typeof secret.username !== 'string' || typeof secret.password !== 'string') {
    throw new Error('DATABASE_SECRET_ARN does not hold {"username", "password"}');
  }
  return { user: secret.username, password: secret.password };
}

/** Closes the handle (tests, local runtime shutdown); the next `getDb()` reopens. */
export async function closeDb(): Promise<void> {
  const open = db;
  db = undefined;
  await open?.close();
}
