import { handler as login } from '../../functions/auth-login';
import { handler as refresh } from '../../functions/auth-refresh';
import { handler as register } from '../../functions/auth-register';
import { createTestEventV2, invoke } from '../helpers/events';
import { resetRuntime, useFreshDatabase } from '../helpers/runtime';

beforeAll(async () => {
  await useFreshDatabase();
  process.env.REFRESH_REUSE_GRACE_SECONDS = '30';
  await resetRuntime();
});
afterAll(() => resetRuntime());

const post = (path: string, json: unknown) => createTestEventV2({ method: 'POST', path, json });

it('with REFRESH_REUSE_GRACE_SECONDS, a quick replay is a plain 401 that leaves the session alive', async () => {
  const credentials = { email: 'tabs@example.com', password: 'SecurePassword123!' };
  await invoke(register, post('/auth/register', credentials));
  const first = (await invoke(login, post('/auth/login', credentials))).body.refresh_token;
  const second = await invoke(refresh, post('/auth/refresh', { refresh_token: first }));
  expect(second.status).toBe(200);

  const replay = await invoke(refresh, post('/auth/refresh', { refresh_token: first }));
  expect([replay.status, replay.body.detail]).toEqual([401, 'Could not validate credentials']);
  // The other tab's successor still works: the family was not revoked.
  expect((await invoke(refresh, post('/auth/refresh', { refresh_token: second.body.refresh_token }))).status).toBe(200);
});
