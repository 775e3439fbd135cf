import { bearerAuth } from '../lib/http/auth';
import { jsonBody } from '../lib/http/body';
import { httpHandler } from '../lib/http/handler';
import { noContent } from '../lib/http/response';
import { disableTotp } from '../lib/mfa/enrolment';
import { TotpDisableBody } from '../lib/schemas';

/** DELETE /auth/mfa/totp: turns MFA off with a current TOTP code or a recovery code. */
export const handler = httpHandler({ auth: bearerAuth, body: jsonBody(TotpDisableBody) }, async ({ user, body, origin }) => {
  await disableTotp(user, body.code, origin);
  return noContent();
});
