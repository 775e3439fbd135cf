import type { Database as RawSqlite } from 'better-sqlite3';
import { storableText, type Queryable, type SqlValue } from './database';
import { migrations } from './migrations';
import type { PostgresDatabase } from './postgres';
import type { SqliteDatabase } from './sqlite';

/**
 * Copies every row of a SQLite database into an empty PostgreSQL one (`npm run db:copy`): the
 * way off SQLite onto Aurora. Both are migrated first (by opening them), so both are at the
 * same schema version; the copy is one PostgreSQL transaction, so it lands whole or not at all,
 * and it refuses a target that already holds rows. Ids, hashes and timestamps are copied as
 * they are, so every token, session, share link and cursor that worked before works after.
 */

/** Parents before children (foreign keys); every table of the schema, checked below. */
export const COPY_ORDER = [
  'users',
  'refresh_tokens',
  'sessions',
  'files',
  'staging_leftovers',
  'shares',
  'throttle_counters',
  'captcha_solutions',
  'audit_events',
  'account_tokens',
  'mfa_totp',
  'mfa_recovery_codes',
  'mfa_challenges',
] as const;

/** Columns PostgreSQL generates from a sequence: copied as they are, then the sequence moves past them. */
const SERIAL_COLUMNS: Readonly<Record<string, string>> = { sessions: 'rowid', audit_events: 'seq' };

/**
 * Rows written before lib/request-origin.ts dropped NUL from user agents can hold one, and a
 * single such row would fail the whole copy: dropped here as the API drops it today.
 */
const storable = (value: SqlValue): SqlValue => (typeof value === 'string' ? storableText(value) : value);

/** PostgreSQL allows 65535 parameters per statement. */
const MAX_PARAMETERS = 60_000;

export interface CopyReport {
  readonly schemaVersion: number;
  readonly rows: Readonly<Record<string, number>>;
}

function columnsOf(raw: RawSqlite, table: string): string[] {
  const columns = (raw.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((column) => column.name);
  // SQLite's implicit rowid is the sessions listing's tie-break: PostgreSQL keeps it as a column.
  return table in SERIAL_COLUMNS && !columns.includes(SERIAL_COLUMNS[table]!) ? [SERIAL_COLUMNS[table]!, ...columns] : columns;
}

async function copyTable(raw: RawSqlite, tx: Queryable, table: string): Promise<number> {
  const columns = columnsOf(raw, table);
  const perRow = columns.length;
  const batchRows = Math.max(1, Math.floor(MAX_PARAMETERS / perRow));
  const insert = (rows: number) =>
    `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${Array.from({ length: rows }, () => `(${columns.map(() => '?').join(', ')})`).join(', ')}`;
  let batch: SqlValue[] = [];
  let count = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    await tx.run(insert(batch.length / perRow), ...batch);
    batch = [];
  };
  for (const row of raw.prepare(`SELECT ${columns.join(', ')} FROM ${table}`).raw().iterate() as IterableIterator<SqlValue[]>) {
    for (const value of row) batch.push(storable(value));
    count += 1;
    if (batch.length / perRow >= batchRows) await flush();
  }
  await flush();
  const serial = SERIAL_COLUMNS[table];
  if (serial) {
    await tx.get(`SELECT setval(pg_get_serial_sequence('${table}', '${serial}'), COALESCE((SELECT MAX(${serial}) FROM ${table}), 0) + 1, false)`);
  }
  return count;
}

export async function copySqliteToPostgres(source: SqliteDatabase, target: PostgresDatabase): Promise<CopyReport> {
  await target.ready();
  const schemaVersion = Math.max(...migrations.map((migration) => migration.version));
  const sourceVersion = (source.raw.prepare('SELECT MAX(version) AS version FROM schema_migrations').get() as { version: number }).version;
  const targetVersion = (await target.get<{ version: number }>('SELECT MAX(version) AS version FROM schema_migrations'))?.version;
  if (sourceVersion !== schemaVersion || targetVersion !== schemaVersion) {
    throw new Error(`Schema versions differ (SQLite ${sourceVersion}, PostgreSQL ${targetVersion}, this code ${schemaVersion}): run the same version of the code against both`);
  }
  const tables = (source.raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations'").all() as Array<{ name: string }>)
    .map((row) => row.name)
    .sort();
  const unknown = tables.filter((table) => !(COPY_ORDER as readonly string[]).includes(table));
  if (unknown.length > 0) throw new Error(`Tables this copy does not know: ${unknown.join(', ')}`);

  return target.transaction(async (tx) => {
    for (const table of COPY_ORDER) {
      const row = await tx.get(`SELECT 1 AS found FROM ${table} LIMIT 1`);
      if (row) throw new Error(`The PostgreSQL database is not empty (table ${table} has rows): copy into a new database`);
    }
    const rows: Record<string, number> = {};
    for (const table of COPY_ORDER) rows[table] = await copyTable(source.raw, tx, table);
    for (const table of COPY_ORDER) {
      const copied = (await tx.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`))!.n;
      if (copied !== rows[table]) throw new Error(`Copied ${rows[table]} rows of ${table} but PostgreSQL holds ${copied}`);
    }
    return { schemaVersion, rows };
  });
}
