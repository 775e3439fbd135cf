import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { handler as login } from '../../functions/auth-login';
import { handler as register } from '../../functions/auth-register';
import { handler as createShare } from '../../functions/shares-create';
import { createTestEventV2, invoke } from '../helpers/events';
import { getDb } from '../../lib/db/connection';
import { resetRuntime, testDialect, useFreshDatabase } from '../helpers/runtime';

const run = promisify(execFile);
const root = path.resolve(__dirname, '../..');
const CONTENDERS = 4;

beforeAll(async () => {
  await useFreshDatabase('DELETE'); // on SQLite, the journal mode used on EFS; on PostgreSQL one database for all contenders
  await resetRuntime();
});
afterAll(() => resetRuntime());

/** Runs the worker in separate processes, each with its own connection, all starting together. */
async function race(env: Record<string, string>): Promise<number[]> {
  const startAt = String(Date.now() + 6000); // after every process has booted and opened the database
  const outputs = await Promise.all(
    Array.from({ length: CONTENDERS }, () =>
      run(path.join(root, 'node_modules/.bin/tsx'), ['tests/helpers/race-worker.ts'], {
        cwd: root,
        env: { ...process.env, ...env, START_AT: startAt },
        timeout: 60_000,
      }),
    ),
  );
  return outputs.map((output) => Number(output.stdout.trim())).sort();
}

describe(`races between processes on one ${testDialect() === 'sqlite' ? 'SQLite file' : 'PostgreSQL database'}`, () => {
  it('registrations of one email: one 201, the rest 409', async () => {
    expect(await race({ RACE: 'register', EMAIL: 'racer@example.com' })).toEqual([201, 409, 409, 409]);
  }, 90_000);

  it('refreshes of one token: at most one successor', async () => {
    const credentials = { email: 'refresher@example.com', password: 'SecurePassword123!' };
    await invoke(register, createTestEventV2({ method: 'POST', path: '/auth/register', json: credentials }));
    const tokens = await invoke(login, createTestEventV2({ method: 'POST', path: '/auth/login', json: credentials }));
    const statuses = await race({ RACE: 'refresh', REFRESH_TOKEN: tokens.body.refresh_token });
    expect(statuses).toEqual([200, 401, 401, 401]);
  }, 90_000);

  it('wrong passwords in racing processes: every one is counted, then the limit holds', async () => {
    const email = 'counted@example.com';
    const sourceIp = '198.51.100.77';
    expect(await race({ RACE: 'wrong-password', EMAIL: email, SOURCE_IP: sourceIp })).toEqual([401, 401, 401, 401]);
    const counts = await getDb().all("SELECT scope, count FROM throttle_counters WHERE scope IN ('email', 'ip') ORDER BY scope");
    expect(counts).toEqual([
      { scope: 'email', count: CONTENDERS },
      { scope: 'ip', count: CONTENDERS },
    ]);
    const attempt = () => invoke(login, createTestEventV2({ method: 'POST', path: '/auth/login', sourceIp, json: { email, password: 'still wrong' } }));
    expect((await attempt()).status).toBe(401); // the fifth failure
    expect((await attempt()).status).toBe(429);
  }, 90_000);

  it('wrong passwords in racing processes past the limit: only LOGIN_MAX_FAILURES of them learn the password was wrong', async () => {
    // Cost 10 keeps every contender inside its compare while the others read the counters.
    const statuses = await race({ RACE: 'wrong-password', EMAIL: 'raced-past@example.com', SOURCE_IP: '198.51.100.78', LOGIN_MAX_FAILURES: '2', BCRYPT_ROUNDS: '10' });
    expect(statuses).toEqual([401, 401, 429, 429]);
  });

  it('opens of one share with max_downloads 2: exactly two redirects, never a third download', async () => {
    const credentials = { email: 'sharer@example.com', password: 'SecurePassword123!' };
    const user = await invoke(register, createTestEventV2({ method: 'POST', path: '/auth/register', json: credentials }));
    const tokens = await invoke(login, createTestEventV2({ method: 'POST', path: '/auth/login', json: credentials }));
    const fileId = '0b6c7d1e-2f3a-4b5c-8d9e-0f1a2b3c4d5e';
    await getDb().run(
      `INSERT INTO files (id, owner_id, key, filename, size, content_type, created_at, status, list_seq)
        VALUES (?, ?, ?, 'raced.pdf', 10, 'application/pdf', '2024-01-15T10:30:00Z', 'stored', 1)`,
      fileId,
      user.body.id,
      `${user.body.id}/${fileId}-raced.pdf`,
    );
    const created = await invoke(
      createShare,
      createTestEventV2({ method: 'POST', path: `/files/${fileId}/shares`, routeKey: 'POST /files/{id}/shares', pathParameters: { id: fileId }, token: tokens.body.access_token, json: { max_downloads: 2 } }),
    );
    expect(created.status).toBe(201);
    // Presigning needs a storage configuration, not a server: nothing is fetched.
    const storage = { S3_ENDPOINT: 'http://127.0.0.1:9', S3_ACCESS_KEY_ID: 'race-key', S3_SECRET_ACCESS_KEY: 'race-secret' };
    const statuses = await race({ RACE: 'share', SHARE_TOKEN: String(created.body.url).split('/s/')[1] ?? '', ...storage });
    expect(statuses).toEqual([302, 302, 404, 404]);
    const row = await getDb().get('SELECT downloads FROM shares WHERE id = ?', created.body.id);
    expect(row).toEqual({ downloads: 2 });
  }, 90_000);
});
