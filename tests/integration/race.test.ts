import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { handler as login } from '../../functions/auth-login';
import { handler as register } from '../../functions/auth-register';
import { createTestEventV2, invoke } from '../helpers/events';
import { resetRuntime, useFreshDatabase } from '../helpers/runtime';

const run = promisify(execFile);
const root = path.resolve(__dirname, '../..');
const CONTENDERS = 4;

beforeAll(() => {
  useFreshDatabase('DELETE'); // the journal mode used on EFS
  resetRuntime();
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

describe('races between processes on one SQLite file', () => {
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
});
