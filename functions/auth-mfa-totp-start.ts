import { bearerAuth } from '../lib/http/auth';
import { httpHandler } from '../lib/http/handler';
import { ok } from '../lib/http/response';
import { startTotpEnrolment } from '../lib/mfa/enrolment';

/**
 * POST /auth/mfa/totp: starts TOTP enrolment with a fresh secret (replacing one still pending);
 * MFA turns on only with POST /auth/mfa/totp/confirm. 409 when MFA is already on.
 */
export const handler = httpHandler({ auth: bearerAuth }, async ({ user }) =>
  ok(await startTotpEnrolment(user), { 'Cache-Control': 'no-store', Pragma: 'no-cache' }),
);
