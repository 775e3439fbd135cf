/**
 * One contender in a cross-process race (tests/integration/race.test.ts): its own process,
 * its own database connection, like a second Lambda container on the same EFS file or Aurora cluster. Waits for
 * START_AT, calls one handler, prints the status code.
 */
import { handler as login } from '../../functions/auth-login';
import { handler as refresh } from '../../functions/auth-refresh';
import { handler as register } from '../../functions/auth-register';
import { handler as shareOpen } from '../../functions/share-open';
import { getDb } from '../../lib/db/connection';
import { createTestEventV2, invoke } from './events';

async function main(): Promise<void> {
  await getDb().ready(); // open (and migrate) before the start line, so the race is about the request alone
  const startAt = Number(process.env.START_AT);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - Date.now())));
  const result =
    process.env.RACE === 'refresh'
      ? await invoke(refresh, createTestEventV2({ method: 'POST', path: '/auth/refresh', json: { refresh_token: process.env.REFRESH_TOKEN } }))
      : process.env.RACE === 'share'
        ? await invoke(shareOpen, createTestEventV2({ path: '/s/token', routeKey: 'GET /s/{token}', pathParameters: { token: process.env.SHARE_TOKEN ?? '' } }))
      : process.env.RACE === 'wrong-password'
        ? await invoke(login, createTestEventV2({ method: 'POST', path: '/auth/login', sourceIp: process.env.SOURCE_IP, json: { email: process.env.EMAIL, password: 'not the password' } }))
        : await invoke(register, createTestEventV2({ method: 'POST', path: '/auth/register', json: { email: process.env.EMAIL, password: 'SecurePassword123!' } }));
  process.stdout.write(`${result.status}\n`);
  await getDb().close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
