import { validQuery } from '../lib/http/body';
import { httpHandler } from '../lib/http/handler';
import { PasswordResetQuery } from '../lib/schemas';

/**
 * GET /auth/password/reset?token=...: where the link in the reset mail points (at APP_URL, the
 * API and its web client by default). Choosing a new password needs a form, so a person
 * clicking it is sent to the web client's (`/#/reset/{token}`; a fragment never reaches a server,
 * a log or a Referer), which POSTs the token with the new password. Nothing is spent here: an
 * unknown or expired token is refused by that POST, with the same answer as every other.
 */
export const handler = httpHandler({ query: validQuery(PasswordResetQuery) }, ({ query }) => ({
  status: 303,
  headers: { Location: `/#/reset/${encodeURIComponent(query.token)}`, 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' },
}));
