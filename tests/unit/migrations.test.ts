import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { openDatabase } from '../../lib/db/connection';
import { migrate, migrations } from '../../lib/db/migrations';

const tempFile = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sua-mig-')), 'app.db');

describe('migrations', () => {
  it('create the seed tables once and are a no-op when up to date', () => {
    const file = tempFile();
    const db = new BetterSqlite3(file);
    expect(migrate(db)).toEqual(migrations.map((m) => m.version));
    expect(migrate(db)).toEqual([]);
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>).map((t) => t.name);
    expect(tables).toEqual(['audit_events', 'captcha_solutions', 'files', 'refresh_tokens', 'schema_migrations', 'sqlite_sequence', 'throttle_counters', 'users']);
    const columns = (db.prepare('PRAGMA table_info(refresh_tokens)').all() as Array<{ name: string }>).map((c) => c.name);
    expect(columns).toEqual(expect.arrayContaining(['user_id', 'revoked', 'expires_at', 'created_at']));
  });

  it('apply a new migration on top, and roll a failing one back whole', () => {
    const db = new BetterSqlite3(tempFile());
    migrate(db);
    const next = migrations.at(-1)!.version + 1;
    const broken = [...migrations, { version: next, name: 'broken', sql: 'CREATE TABLE extra (id TEXT); SELECT * FROM nowhere;' }];
    expect(() => migrate(db, broken)).toThrow();
    expect(db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'extra'").get()).toEqual({ n: 0 });
    const good = [...migrations, { version: next, name: 'extra', sql: 'CREATE TABLE extra (id TEXT)' }];
    expect(migrate(db, good)).toEqual([next]);
  });

  it('tolerate gaps in the versions, and apply a lower version that arrives later (parallel branches)', () => {
    const db = new BetterSqlite3(tempFile());
    const base = migrations.at(-1)!.version;
    const later = { version: base + 2, name: 'later', sql: 'CREATE TABLE later_table (id TEXT)' };
    const earlier = { version: base + 1, name: 'earlier', sql: 'CREATE TABLE earlier_table (id TEXT)' };
    expect(migrate(db, [...migrations, later])).toEqual([...migrations.map((m) => m.version), base + 2]);
    expect(migrate(db, [...migrations, later])).toEqual([]);
    // The other branch is merged: its lower version is still applied, exactly once.
    expect(migrate(db, [...migrations, earlier, later])).toEqual([base + 1]);
    expect(migrate(db, [...migrations, earlier, later])).toEqual([]);
    expect(db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name IN ('earlier_table', 'later_table')").get()).toEqual({ n: 2 });
  });

  it('open with the configured journal mode and pragmas', () => {
    const wal = openDatabase(tempFile(), { journalMode: 'WAL' });
    expect(wal.pragma('journal_mode', { simple: true })).toBe('wal');
    const efs = openDatabase(tempFile(), { journalMode: 'DELETE' });
    expect(efs.pragma('journal_mode', { simple: true })).toBe('delete');
    expect(efs.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(efs.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(efs.pragma('busy_timeout', { simple: true })).toBe(5000);
  });
});
