import { jsonBody } from '../lib/http/body';
import { httpHandler } from '../lib/http/handler';
import { noContent } from '../lib/http/response';
import { resetPassword } from '../lib/password-reset';
import { PasswordResetBody } from '../lib/schemas';

/** POST /auth/password/reset {token, new_password}: 204, every session ends; 400 for an unknown, used or expired token. */
export const handler = httpHandler({ body: jsonBody(PasswordResetBody) }, async ({ body, origin }) => {
  await resetPassword(body, origin);
  return noContent();
});
