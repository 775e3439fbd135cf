/**
 * One container of the database load model (bench/db-load.ts): its own process and connection,
 * like one Lambda container. Runs one real write operation in a loop until END_AT and prints how
 * many completed. Setup (a user, a session) happens before START_AT.
 */
import './quiet-logs';
import { randomUUID } from 'node:crypto';
import { issueTokenPair, rotateRefreshToken } from '../lib/auth/refresh-tokens';
import { getDb } from '../lib/db/connection';
import { markStored, reservePendingFile } from '../lib/files';
import { registerUser } from '../lib/users';

const origin = { ip: '127.0.0.1', userAgent: 'bench', requestId: 'bench' };

async function main(): Promise<void> {
  await getDb().ready();
  const user = await registerUser({ email: `load-${randomUUID()}@example.com`, password: 'SecurePassword123!' });
  let refresh = (await issueTokenPair(user.id)).refresh_token;
  const operations: Record<string, () => Promise<unknown>> = {
    // The database part of each: register's INSERT (bcrypt at cost 4 here, see db-load.ts),
    // login's new session and refresh token, a refresh's rotation, an upload's reservation and record.
    register: () => registerUser({ email: `r-${randomUUID()}@example.com`, password: 'SecurePassword123!' }),
    login: () => issueTokenPair(user.id, origin),
    refresh: async () => (refresh = (await rotateRefreshToken(refresh, origin)).refresh_token),
    upload: async () => {
      const id = randomUUID();
      await reservePendingFile(
        { id, ownerId: user.id, key: `${user.id}/${id}-a.pdf`, filename: 'a.pdf', size: 1024, contentType: 'application/pdf', scanStatus: 'unscanned' },
        new Date(Date.now() + 60_000),
      );
      if (!(await markStored(id, 1024, 'application/pdf', 'unscanned'))) throw new Error('reservation vanished');
    },
  };
  const operation = operations[process.env.OPERATION ?? ''];
  if (!operation) throw new Error(`OPERATION must be one of ${Object.keys(operations).join(', ')}`);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(process.env.START_AT) - Date.now())));
  const endAt = Number(process.env.END_AT);
  let done = 0;
  while (Date.now() < endAt) {
    await operation();
    done += 1;
  }
  process.stdout.write(`${done}\n`);
  await getDb().close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
