import { getSecretString } from '../aws/secrets-manager';
import { getConfig } from '../config';
import type { Database } from './database';
import type { PostgresTarget } from './postgres';

export type { Database, Queryable, RunResult, SqlValue } from './database';
export { isUniqueViolation } from './database';

let db: Database | undefined;

/**
 * This container's database, chosen by `DATABASE_URL` (or `DATABASE_SECRET_ARN` alone): opened
 * (and migrated) on first use. Each engine's module is loaded only when chosen, and a Lambda
 * bundle carries only its own (`BUNDLED_DATABASE`, a build-time constant that esbuild folds, see
 * infra/constructs/api-function.ts): an Aurora bundle has no SQLite code and no
 * `require('better-sqlite3')`, a SQLite bundle no PostgreSQL client.
 */
export function getDb(): Database {
  if (!db) db = openConfigured();
  return db;
}

function openConfigured(): Database {
  const { database } = getConfig();
  if (database.dialect === 'unset') {
    throw new Error('Invalid configuration: this Lambda function has no database (DATABASE_URL or DATABASE_SECRET_ARN names one)');
  }
  // The conditions on BUNDLED_DATABASE fold to `false` in the other engine's bundle, and esbuild
  // drops the branch with its require (the shape lib/mail/mailer.ts uses for LAMBDA_BUNDLE).
  if (database.dialect === 'postgres') {
    if (process.env.BUNDLED_DATABASE !== 'sqlite') {
      const { PostgresDatabase } = require('./postgres') as typeof import('./postgres');
      const { secretArn, url, tls } = database;
      return new PostgresDatabase({
        ...(url ? { url } : {}),
        poolMax: database.poolMax,
        ...(secretArn ? { target: () => targetFromSecret(secretArn), ...(tls ? { tls } : {}) } : {}),
      });
    }
    throw new Error('This function was bundled for SQLite (cdk -c database=sqlite) but is configured for PostgreSQL');
  }
  if (process.env.BUNDLED_DATABASE !== 'postgres') {
    const { openSqlite } = require('./sqlite') as typeof import('./sqlite');
    return openSqlite(database.path, { journalMode: database.journalMode });
  }
  throw new Error('This function was bundled for PostgreSQL (cdk -c database=aurora) but is configured for SQLite');
}

/**
 * The RDS-generated secret's JSON (`{"username", "password", "host", "port", "dbname", "engine",
 * ...}`), read through the same Secrets Manager client as the JWT secret, once per pool (so once
 * per container). `username` and `password` are required; the rest may come from DATABASE_URL.
 */
export async function targetFromSecret(arn: string): Promise<PostgresTarget> {
  let secret: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(await getSecretString(arn));
    secret = parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
  } catch (error) {
    if (error instanceof SyntaxError) throw new Error('DATABASE_SECRET_ARN does not hold JSON');
    throw error;
  }
  const { username, password, host, port, dbname } = secret;
  if (typeof username !== 'string' || typeof password !== 'string') {
    throw new Error('DATABASE_SECRET_ARN does not hold {"username", "password"}');
  }
  const portNumber = typeof port === 'number' ? port : typeof port === 'string' && /^\d+$/.test(port) ? Number(port) : undefined;
  return {
    user: username,
    password,
    ...(typeof host === 'string' && host ? { host } : {}),
    ...(portNumber ? { port: portNumber } : {}),
    ...(typeof dbname === 'string' && dbname ? { database: dbname } : {}),
  };
}

/** Closes the handle (tests, local runtime shutdown); the next `getDb()` reopens. */
export async function closeDb(): Promise<void> {
  const open = db;
  db = undefined;
  await open?.close();
}
