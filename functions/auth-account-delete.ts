import { deleteAccount } from '../lib/account';
import { bearerAuth } from '../lib/http/auth';
import { jsonBody } from '../lib/http/body';
import { httpHandler } from '../lib/http/handler';
import { noContent } from '../lib/http/response';
import { AccountDeletionBody } from '../lib/schemas';

/**
 * DELETE /auth/me: deletes the account, confirmed by its password (403 if wrong, counted as a
 * failure; 429 past the limits): sessions, files and their objects, plans; the email is free again.
 */
export const handler = httpHandler({ auth: bearerAuth, body: jsonBody(AccountDeletionBody) }, async ({ user, body, origin }) => {
  await deleteAccount(user, body, origin);
  return noContent();
});
