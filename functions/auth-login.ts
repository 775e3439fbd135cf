import { issueTokenPair } from '../lib/auth/refresh-tokens';
import { jsonBody } from '../lib/http/body';
import { clientOf } from '../lib/http/client';
import { httpHandler } from '../lib/http/handler';
import { ok } from '../lib/http/response';
import { LoginBody } from '../lib/schemas';
import { authenticate } from '../lib/users';

/** POST /auth/login: a new token pair and session; one 401 for unknown email and wrong password alike. */
export const handler = httpHandler({ body: jsonBody(LoginBody) }, async ({ body, event }) => {
  const user = await authenticate(body);
  return ok(await issueTokenPair(user.id, clientOf(event)), { 'Cache-Control': 'no-store', Pragma: 'no-cache' });
});
