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
    expect(tables).toEqual(['files', 'refresh_tokens', 'schema_migrations', 'staging_leftovers', 'users']);
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

  it('number existing files per owner in upload order when adding the list order (version 3)', () => {
    const db = new BetterSqlite3(tempFile());
    migrate(db, migrations.filter((m) => m.version <= 2));
    const user = db.prepare("INSERT INTO users (id, email, email_key, hashed_password, created_at) VALUES (?, ?, ?, 'x', '2024-01-01T00:00:00Z')");
    for (const id of ['a', 'b']) user.run(id, `${id}@example.com`, `${id}@example.com`);
    const file = db.prepare("INSERT INTO files (id, owner_id, key, filename, size, content_type, created_at) VALUES (?, ?, ?, 'f', 1, 'text/plain', '2024-01-01T00:00:00Z')");
    for (const [id, owner] of [['a1', 'a'], ['b1', 'b'], ['a2', 'a'], ['a3', 'a'], ['b2', 'b']]) file.run(id, owner, `${owner}/${id}`);
    expect(migrate(db)).toEqual(migrations.filter((m) => m.version > 2).map((m) => m.version));
    expect(db.prepare('SELECT id, list_seq FROM files ORDER BY rowid').all()).toEqual([
      { id: 'a1', list_seq: 1 },
      { id: 'b1', list_seq: 1 },
      { id: 'a2', list_seq: 2 },
      { id: 'a3', list_seq: 3 },
      { id: 'b2', list_seq: 2 },
    ]);
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
