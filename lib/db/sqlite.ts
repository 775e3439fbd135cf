import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { JournalMode } from '../config';
import { HttpError } from '../http/errors';
import { logger } from '../logger';
import type { Database, Queryable, RunResult, SqlValue } from './database';
import { migrateSqlite } from './migrations';
import { assertOutsideTransaction, insideTransaction } from './transaction-scope';

/** Another container held the write lock for the whole busy timeout: overloaded, worth a retry, not a 500. */
function busy(error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (code !== 'SQLITE_BUSY' && code !== 'SQLITE_LOCKED') return error;
  logger.warn('SQLite write lock not obtained within the busy timeout', { error: error as Error });
  return new HttpError(503, 'The database is busy right now; try again in a few seconds', { headers: { 'Retry-After': '2' }, cause: error });
}

const guarded = <T>(operation: () => T): T => {
  try {
    return operation();
  } catch (error) {
    throw busy(error);
  }
};

export interface SqliteOptions {
  /** Undefined keeps the file's own mode (the copy command must not change its source). */
  readonly journalMode: JournalMode | undefined;
  /** How long a writer waits for another's lock before SQLITE_BUSY. */
  readonly busyTimeoutMs?: number;
}

/**
 * SQLite through better-sqlite3. Its calls are synchronous and share one connection, so an
 * open transaction must have it to itself while its work awaits: transactions queue in this
 * process, and a statement outside them waits for the one in progress. Across processes
 * (Lambda containers, test workers) `BEGIN IMMEDIATE` and the busy timeout serialize writers.
 */
export class SqliteDatabase implements Database {
  readonly dialect = 'sqlite' as const;
  private readonly statements = new Map<string, BetterSqlite3.Statement>();
  /** Settles when the last queued transaction has finished. */
  private tail: Promise<void> = Promise.resolve();
  private busy = false;
  private readonly direct: Queryable;

  constructor(readonly raw: BetterSqlite3.Database) {
    this.direct = {
      dialect: 'sqlite',
      get: async <T>(sql: string, ...params: readonly SqlValue[]) => guarded(() => this.statement(sql).get(...params) as T | undefined),
      all: async <T>(sql: string, ...params: readonly SqlValue[]) => guarded(() => this.statement(sql).all(...params) as T[]),
      run: async (sql: string, ...params: readonly SqlValue[]): Promise<RunResult> => guarded(() => ({ changes: this.statement(sql).run(...params).changes })),
    };
  }

  /** Compiled once per connection: hot paths skip SQLite's parser. */
  private statement(sql: string): BetterSqlite3.Statement {
    let prepared = this.statements.get(sql);
    if (!prepared) this.statements.set(sql, (prepared = this.raw.prepare(sql)));
    return prepared;
  }

  private async turn(): Promise<void> {
    assertOutsideTransaction(this);
    while (this.busy) await this.tail;
  }

  async get<T = Record<string, unknown>>(sql: string, ...params: readonly SqlValue[]): Promise<T | undefined> {
    if (this.busy) await this.turn();
    else assertOutsideTransaction(this);
    return guarded(() => this.statement(sql).get(...params) as T | undefined);
  }

  async all<T = Record<string, unknown>>(sql: string, ...params: readonly SqlValue[]): Promise<T[]> {
    if (this.busy) await this.turn();
    else assertOutsideTransaction(this);
    return guarded(() => this.statement(sql).all(...params) as T[]);
  }

  async run(sql: string, ...params: readonly SqlValue[]): Promise<RunResult> {
    if (this.busy) await this.turn();
    else assertOutsideTransaction(this);
    return guarded(() => ({ changes: this.statement(sql).run(...params).changes }));
  }

  async transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    assertOutsideTransaction(this);
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((resolve) => (release = resolve));
    await previous;
    this.busy = true;
    try {
      guarded(() => this.raw.exec('BEGIN IMMEDIATE'));
      try {
        const result = await insideTransaction(this, () => work(this.direct));
        guarded(() => this.raw.exec('COMMIT'));
        return result;
      } catch (error) {
        if (this.raw.inTransaction) this.raw.exec('ROLLBACK');
        throw error;
      }
    } finally {
      this.busy = false;
      release();
    }
  }

  async ready(): Promise<void> {}

  async close(): Promise<void> {
    this.raw.close();
  }
}

/**
 * Opens a database file with the pragmas this service relies on and migrates it.
 *
 * Journal mode is configuration, not a fork: WAL locally (readers never block the writer),
 * DELETE on EFS, where WAL's shared-memory index cannot work over NFS. With DELETE every
 * commit must reach the disk (`synchronous=FULL`); WAL is durable enough with NORMAL.
 */
export function openSqlite(file: string, options: SqliteOptions): SqliteDatabase {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
  const raw = new BetterSqlite3(file);
  try {
    raw.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
    const mode = options.journalMode ?? String(raw.pragma('journal_mode', { simple: true })).toUpperCase();
    if (options.journalMode) raw.pragma(`journal_mode = ${options.journalMode}`);
    raw.pragma(`synchronous = ${mode === 'WAL' ? 'NORMAL' : 'FULL'}`);
    raw.pragma('foreign_keys = ON');
    migrateSqlite(raw);
  } catch (error) {
    raw.close();
    throw error;
  }
  return new SqliteDatabase(raw);
}
