import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { migrateSqlite as migrate, migrations } from '../../lib/db/migrations';
import { openSqlite } from '../../lib/db/sqlite';

const tempFile = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sua-mig-')), 'app.db');

describe('migrations', () => {
  it('create the seed tables once and are a no-op when up to date', () => {
    const file = tempFile();
    const db = new BetterSqlite3(file);
    expect(migrate(db)).toEqual(migrations.map((m) => m.version));
    expect(migrate(db)).toEqual([]);
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>).map((t) => t.name);
    expect(tables).toEqual(['account_tokens', 'audit_events', 'captcha_solutions', 'files', 'mfa_challenges', 'mfa_recovery_codes', 'mfa_totp', 'refresh_tokens', 'schema_migrations', 'sessions', 'shares', 'sqlite_sequence', 'staging_leftovers', 'throttle_counters', 'users']);
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

  it('apply versions missing below the highest recorded one (parallel branches), and lists with gaps', () => {
    const db = new BetterSqlite3(tempFile());
    const base = migrations.filter((m) => m.version <= 2);
    const table = (version: number, name: string) => ({ version, name, sql: `CREATE TABLE ${name} (id TEXT)` });
    // A list with a gap: 3 and 4 do not exist on this branch.
    expect(migrate(db, [...base, table(5, 'five')])).toEqual([1, 2, 5]);
    // After a merge, 3 and 4 arrive (even out of order in the list): both are applied, 5 is not redone.
    expect(migrate(db, [...base, table(5, 'five'), table(4, 'four'), table(3, 'three')])).toEqual([3, 4]);
    expect(migrate(db, [...base, table(3, 'three'), table(4, 'four'), table(5, 'five')])).toEqual([]);
    const recorded = (db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as Array<{ version: number }>).map((r) => r.version);
    expect(recorded).toEqual([1, 2, 3, 4, 5]);
    expect(() => migrate(db, [...base, table(6, 'six'), table(6, 'other')])).toThrow('Two migrations claim version 6');
  });

  it('version 5 backfills a live session for every family that can still refresh, and none for dead ones', () => {
    const db = new BetterSqlite3(tempFile());
    migrate(db, migrations.filter((m) => m.version <= 2));
    db.prepare("INSERT INTO users (id, email, email_key, hashed_password, created_at) VALUES ('u1', 'a@b.c', 'a@b.c', 'x', '2024-01-01T00:00:00Z')").run();
    const token = db.prepare(
      "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, revoked, rotated_at, expires_at, created_at) VALUES (?, 'u1', ?, ?, ?, ?, ?, ?)",
    );
    const future = '2999-01-01T00:00:00Z';
    token.run('t1', 'live', 'h1', 1, '2024-01-02T00:00:00Z', future, '2024-01-01T00:00:00Z'); // rotated...
    token.run('t2', 'live', 'h2', 0, null, future, '2024-01-02T00:00:00Z'); // ...into a live successor
    token.run('t3', 'revoked', 'h3', 1, null, future, '2024-01-01T00:00:00Z'); // logged out
    token.run('t4', 'expired', 'h4', 0, null, '2024-02-01T00:00:00Z', '2024-01-01T00:00:00Z');
    expect(migrate(db)).toEqual(migrations.filter((m) => m.version > 2).map((m) => m.version));
    expect(db.prepare('SELECT * FROM sessions').all()).toEqual([
      {
        id: 'live',
        user_id: 'u1',
        created_at: '2024-01-01T00:00:00Z',
        last_used_at: '2024-01-02T00:00:00Z',
        expires_at: future,
        ip: null,
        user_agent: null,
        ended_at: null,
      },
    ]);
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

  it('version 9 gives every existing file scan_status unscanned, and admits only the four statuses', () => {
    const db = new BetterSqlite3(tempFile());
    migrate(db, migrations.filter((m) => m.version < 9));
    db.prepare("INSERT INTO users (id, email, email_key, hashed_password, created_at) VALUES ('u', 'u@example.com', 'u@example.com', 'x', '2024-01-01T00:00:00Z')").run();
    db.prepare("INSERT INTO files (id, owner_id, key, filename, size, content_type, created_at, list_seq) VALUES ('f', 'u', 'u/f', 'f', 1, 'text/plain', '2024-01-01T00:00:00Z', 1)").run();
    expect(migrate(db)).toEqual(migrations.filter((m) => m.version >= 9).map((m) => m.version));
    expect(db.prepare('SELECT id, scan_status FROM files').all()).toEqual([{ id: 'f', scan_status: 'unscanned' }]);
    for (const status of ['clean', 'pending', 'infected', 'unscanned']) db.prepare('UPDATE files SET scan_status = ?').run(status);
    expect(() => db.prepare("UPDATE files SET scan_status = 'suspicious'").run()).toThrow(/CHECK constraint failed/);
  });

  it('open with the configured journal mode and pragmas', () => {
    const wal = openSqlite(tempFile(), { journalMode: 'WAL' }).raw;
    expect(wal.pragma('journal_mode', { simple: true })).toBe('wal');
    const efs = openSqlite(tempFile(), { journalMode: 'DELETE' }).raw;
    expect(efs.pragma('journal_mode', { simple: true })).toBe('delete');
    expect(efs.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(efs.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(efs.pragma('busy_timeout', { simple: true })).toBe(5000);
  });
});
