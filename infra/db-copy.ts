/**
 * `npm run db:copy -- <sqlite:///source.db> <postgres://target>`: copies a SQLite database into
 * a new, empty PostgreSQL database (lib/db/copy.ts). Stop the API first (or put it in
 * maintenance): writes made during the copy would be lost.
 */
import { copySqliteToPostgres } from '../lib/db/copy';
import { databasePathFromUrl } from '../lib/config';
import { PostgresDatabase } from '../lib/db/postgres';
import { openSqlite } from '../lib/db/sqlite';

async function main(): Promise<number> {
  const [from, to] = process.argv.slice(2);
  if (!from?.startsWith('sqlite:///') || !to || !/^postgres(ql)?:\/\//.test(to)) {
    console.error('usage: npm run db:copy -- sqlite:///path/to/app.db postgres://user:password@host:5432/database');
    return 2;
  }
  const source = openSqlite(databasePathFromUrl(from), { journalMode: undefined });
  // No read timeout (0): a big table's batches may take long, and an operator is watching.
  const target = new PostgresDatabase({ url: to, poolMax: 1, queryTimeoutMs: 0 });
  try {
    const started = Date.now();
    const report = await copySqliteToPostgres(source, target);
    const total = Object.values(report.rows).reduce((sum, n) => sum + n, 0);
    for (const [table, n] of Object.entries(report.rows)) console.log(`${table.padEnd(20)} ${n}`);
    console.log(`Copied ${total} rows (schema version ${report.schemaVersion}) in ${Date.now() - started} ms. Point DATABASE_URL at PostgreSQL now.`);
    return 0;
  } catch (error) {
    console.error(`Copy failed, nothing was written: ${(error as Error).message}`);
    return 1;
  } finally {
    await source.close();
    await target.close();
  }
}

main().then((code) => process.exit(code));
