import { bearerAuth } from '../lib/http/auth';
import { jsonBody } from '../lib/http/body';
import { httpHandler } from '../lib/http/handler';
import { ok } from '../lib/http/response';
import { confirmTotpEnrolment } from '../lib/mfa/enrolment';
import { TotpConfirmBody } from '../lib/schemas';

/** POST /auth/mfa/totp/confirm: a first code turns MFA on; the answer shows the recovery codes, once. */
export const handler = httpHandler({ auth: bearerAuth, body: jsonBody(TotpConfirmBody) }, async ({ user, body, origin }) =>
  ok(await confirmTotpEnrolment(user, body.code, origin), { 'Cache-Control': 'no-store', Pragma: 'no-cache' }),
);
