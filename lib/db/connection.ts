import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { getConfig, type JournalMode } from '../config';
import { migrate } from './migrations';

export type { Database } from 'better-sqlite3';

export interface OpenOptions {
  readonly journalMode: JournalMode;
  /** How long a writer waits for another's lock before SQLITE_BUSY. */
  readonly busyTimeoutMs?: number;
}

/**
 * Opens a database with the pragmas this service relies on and migrates it.
 *
 * Journal mode is configuration, not a fork: WAL locally (readers never block the writer),
 * DELETE on EFS, where WAL's shared-memory index cannot work over NFS. With DELETE every
 * commit must reach the disk (`synchronous=FULL`); WAL is durable enough with NORMAL.
 */
export function openDatabase(file: string, options: OpenOptions): Database {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
  const db = new BetterSqlite3(file);
  db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
  db.pragma(`journal_mode = ${options.journalMode}`);
  db.pragma(`synchronous = ${options.journalMode === 'WAL' ? 'NORMAL' : 'FULL'}`);
  db.pragma('foreign_keys = ON');
  migrate(db);
  return db;
}

let db: Database | undefined;

/** This container's database handle, opened and migrated on first use. */
export function getDb(): Database {
  if (!db) {
    const config = getConfig();
    db = openDatabase(config.databasePath, { journalMode: config.journalMode });
  }
  return db;
}

/** Closes the handle (tests, local runtime shutdown); the next `getDb()` reopens. */
export function closeDb(): void {
  db?.close();
  db = undefined;
}

const statements = new WeakMap<Database, Map<string, BetterSqlite3.Statement>>();

/** A prepared statement, compiled once per connection: hot paths skip SQLite's parser. */
export function statement(database: Database, sql: string): BetterSqlite3.Statement {
  let cache = statements.get(database);
  if (!cache) statements.set(database, (cache = new Map()));
  let prepared = cache.get(sql);
  if (!prepared) cache.set(sql, (prepared = database.prepare(sql)));
  return prepared;
}
