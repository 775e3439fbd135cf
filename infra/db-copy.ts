/**
 * `npm run db:copy -- <sqlite:///source.db> [postgres://target]`: copies a SQLite database into
 * a new, empty PostgreSQL database (lib/db/copy.ts). Stop the API first (or put it in
 * maintenance): writes made during the copy would be lost.
 *
 * The target may (and with a real password should) come from `TARGET_DATABASE_URL` instead of
 * the command line: an argument is readable by every user of the machine (`ps`,
 * /proc/<pid>/cmdline) for as long as the copy runs, and stays in the shell's history.
 */
import { copySqliteToPostgres } from '../lib/db/copy';
import { databasePathFromUrl } from '../lib/config';
import { PostgresDatabase } from '../lib/db/postgres';
import { openSqlite } from '../lib/db/sqlite';

async function main(): Promise<number> {
  const [from, argument] = process.argv.slice(2);
  const to = argument ?? process.env.TARGET_DATABASE_URL;
  if (!from?.startsWith('sqlite:///') || !to || !/^postgres(ql)?:\/\//.test(to)) {
    console.error('usage: TARGET_DATABASE_URL=postgres://user:password@host:5432/database npm run db:copy -- sqlite:///path/to/app.db');
    console.error('   or: npm run db:copy -- sqlite:///path/to/app.db postgres://... (the password is then visible in the process list)');
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
