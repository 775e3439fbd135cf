import { jsonBody } from '../lib/http/body';
import { httpHandler } from '../lib/http/handler';
import { accepted } from '../lib/http/response';
import { requestPasswordReset } from '../lib/password-reset';
import { PasswordForgotBody } from '../lib/schemas';

/** POST /auth/password/forgot {email, captcha?}: 202 always, in the same time, whether or not the account exists. */
export const handler = httpHandler({ body: jsonBody(PasswordForgotBody) }, async ({ body, origin }) => {
  await requestPasswordReset(body, origin);
  return accepted();
});
