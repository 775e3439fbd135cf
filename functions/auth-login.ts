import { issueTokenPair } from '../lib/auth/refresh-tokens';
import { httpHandler, ok } from '../lib/http';
import { LoginBody } from '../lib/schemas';
import { authenticate } from '../lib/users';

/** POST /auth/login: a new token pair; one 401 for unknown email and wrong password alike. */
export const handler = httpHandler({ body: LoginBody }, async ({ body }) => {
  const user = await authenticate(body);
  return ok(await issueTokenPair(user.id), { 'Cache-Control': 'no-store', Pragma: 'no-cache' });
});
