import { jsonBody } from '../lib/http/body';
import { httpHandler } from '../lib/http/handler';
import { ok } from '../lib/http/response';
import { logIn } from '../lib/login';
import { LoginBody } from '../lib/schemas';

/**
 * POST /auth/login: a new token pair and session; one 401 for unknown email and wrong password
 * alike, and one 429 for both once the account or the address is past its failure limit.
 */
export const handler = httpHandler({ body: jsonBody(LoginBody) }, async ({ body, origin }) =>
  ok(await logIn(body, origin), { 'Cache-Control': 'no-store', Pragma: 'no-cache' }),
);
