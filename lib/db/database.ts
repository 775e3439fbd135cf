/**
 * The data layer's one interface, with an implementation per engine: SQLite (better-sqlite3,
 * a file: the default, and on EFS) and PostgreSQL (node-postgres: Aurora, or any server).
 *
 * SQL is written once, in the subset both dialects share, with `?` placeholders (the
 * PostgreSQL implementation numbers them). No query builder: the SQL that runs is the SQL in
 * the code. Where the dialects differ (the schema), each has its own migrations.
 */
export type Dialect = 'sqlite' | 'postgres';

/** What a parameter may be: both drivers bind these the same way. */
export type SqlValue = string | number | bigint | null | Buffer;

export interface RunResult {
  /** Rows inserted, updated or deleted (SQLite `changes`, PostgreSQL `rowCount`). */
  readonly changes: number;
}

/** Statements: on the database (each one its own transaction) or inside a transaction. */
export interface Queryable {
  readonly dialect: Dialect;
  /** The first row, or undefined. */
  get<T = Record<string, unknown>>(sql: string, ...params: readonly SqlValue[]): Promise<T | undefined>;
  all<T = Record<string, unknown>>(sql: string, ...params: readonly SqlValue[]): Promise<T[]>;
  run(sql: string, ...params: readonly SqlValue[]): Promise<RunResult>;
}

export interface Database extends Queryable {
  /**
   * Runs `work` as one serializable transaction: SQLite's `BEGIN IMMEDIATE` (one writer at a
   * time, across processes), PostgreSQL's `SERIALIZABLE`, retried from the start when the server
   * aborts it for a conflict. So `work` must only touch the database through `tx`, and do
   * nothing it could not do twice (no network calls, no side effects outside `tx`).
   */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Opened and migrated; rejects with what went wrong (the local runtime checks at start). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/** A unique or primary-key constraint refused the write (both engines' codes). */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}

/**
 * Text both engines can store: without U+0000, which SQLite keeps and PostgreSQL text refuses
 * (22021). For client-supplied text that is recorded as it came (user agents), and for rows
 * written before that rule when they are copied into PostgreSQL.
 */
export function storableText(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '') : text;
}
