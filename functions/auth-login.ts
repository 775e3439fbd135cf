import { issueTokenPair } from '../lib/auth/refresh-tokens';
import { jsonBody } from '../lib/http/body';
import { httpHandler } from '../lib/http/handler';
import { ok } from '../lib/http/response';
import { LoginBody } from '../lib/schemas';
import { authenticate } from '../lib/users';

/** POST /auth/login: a new token pair; one 401 for unknown email and wrong password alike. */
export const handler = httpHandler({ body: jsonBody(LoginBody) }, async ({ body }) => {
  const user = await authenticate(body);
  return ok(await issueTokenPair(user.id), { 'Cache-Control': 'no-store', Pragma: 'no-cache' });
});
