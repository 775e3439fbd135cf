import { changePassword } from '../lib/account';
import { bearerAuth } from '../lib/http/auth';
import { jsonBody } from '../lib/http/body';
import { httpHandler } from '../lib/http/handler';
import { noContent } from '../lib/http/response';
import { PasswordChangeBody } from '../lib/schemas';

/**
 * POST /auth/password: a new password, confirmed by the current one (403 if wrong, counted as
 * a failure; 429 past the limits). Every other session ends; this one stays.
 */
export const handler = httpHandler({ auth: bearerAuth, body: jsonBody(PasswordChangeBody) }, async ({ user, body, origin }) => {
  await changePassword(user, body, origin);
  return noContent();
});
