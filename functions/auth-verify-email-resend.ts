import { resendVerification } from '../lib/email-verification';
import { bearerAuth } from '../lib/http/auth';
import { httpHandler } from '../lib/http/handler';
import { accepted } from '../lib/http/response';

/** POST /auth/verify-email/resend: 202; a fresh link goes out if the address is unverified (at most five an hour). */
export const handler = httpHandler({ auth: bearerAuth }, async ({ user }) => {
  await resendVerification(user);
  return accepted();
});
