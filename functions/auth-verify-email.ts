import { verifyEmail } from '../lib/email-verification';
import { jsonBody } from '../lib/http/body';
import { httpHandler } from '../lib/http/handler';
import { ok } from '../lib/http/response';
import { VerifyEmailBody } from '../lib/schemas';

/** POST /auth/verify-email {token}: 200 the user with email_verified: true; 400 for an unknown, used or expired token. */
export const handler = httpHandler({ body: jsonBody(VerifyEmailBody) }, async ({ body, origin }) => ok(await verifyEmail(body.token, origin)));
