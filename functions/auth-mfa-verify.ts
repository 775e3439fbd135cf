import { jsonBody } from '../lib/http/body';
import { httpHandler } from '../lib/http/handler';
import { ok } from '../lib/http/response';
import { verifyMfaLogin } from '../lib/mfa/verification';
import { MfaVerifyBody } from '../lib/schemas';

/**
 * POST /auth/mfa/verify: the login's second step. A live mfa_token and a right code answer the
 * token pair a login without MFA answers; a wrong code is 400, a dead token 401.
 */
export const handler = httpHandler({ body: jsonBody(MfaVerifyBody) }, async ({ body, origin }) =>
  ok(await verifyMfaLogin(body, origin), { 'Cache-Control': 'no-store', Pragma: 'no-cache' }),
);
