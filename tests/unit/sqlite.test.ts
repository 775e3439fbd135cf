import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HttpError } from '../../lib/http/errors';
import { openSqlite } from '../../lib/db/sqlite';

const tempFile = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sua-sqlite-')), 'app.db');

describe('the SQLite implementation', () => {
  it('runs concurrent transactions of one process one after another, never interleaved on its one connection', async () => {
    const db = openSqlite(tempFile(), { journalMode: 'WAL' });
    await db.run('INSERT INTO throttle_counters (scope, key, count, expires_at) VALUES (?, ?, 0, ?)', 'ip', 'k', 4_000_000_000);
    const order: string[] = [];
    await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        db.transaction(async (tx) => {
          order.push(`begin ${i}`);
          const { count } = (await tx.get<{ count: number }>('SELECT count FROM throttle_counters WHERE key = ?', 'k'))!;
          await new Promise((resolve) => setTimeout(resolve, 2));
          await tx.run('UPDATE throttle_counters SET count = ? WHERE key = ?', count + 1, 'k');
          order.push(`end ${i}`);
        }),
      ),
    );
    expect(order).toEqual([0, 1, 2, 3, 4].flatMap((i) => [`begin ${i}`, `end ${i}`]));
    expect(await db.get('SELECT count FROM throttle_counters WHERE key = ?', 'k')).toEqual({ count: 5 });
    // A statement outside waits for the open transaction instead of joining it.
    let inside = false;
    const open = db.transaction(async (tx) => {
      inside = true;
      await new Promise((resolve) => setTimeout(resolve, 20));
      await tx.run('UPDATE throttle_counters SET count = 100 WHERE key = ?', 'k');
      inside = false;
      throw new Error('roll back');
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(inside).toBe(true);
    expect(await db.get('SELECT count FROM throttle_counters WHERE key = ?', 'k')).toEqual({ count: 5 });
    await expect(open).rejects.toThrow('roll back');
    await db.close();
  });

  it('answers 503 with Retry-After when another process holds the write lock past the busy timeout', async () => {
    const file = tempFile();
    const holder = openSqlite(file, { journalMode: 'DELETE' });
    const waiter = openSqlite(file, { journalMode: 'DELETE', busyTimeoutMs: 50 });
    holder.raw.exec('BEGIN IMMEDIATE');
    const error = await waiter.run('DELETE FROM throttle_counters').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HttpError);
    expect(error).toMatchObject({ status: 503, headers: { 'Retry-After': '2' } });
    await expect(waiter.transaction(async (tx) => tx.run('DELETE FROM throttle_counters'))).rejects.toMatchObject({ status: 503 });
    holder.raw.exec('ROLLBACK');
    expect(await waiter.run('DELETE FROM throttle_counters')).toEqual({ changes: 0 });
    await holder.close();
    await waiter.close();
  });
});
