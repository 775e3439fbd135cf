import { revokeRefreshToken } from '../lib/auth/refresh-tokens';
import { jsonBody } from '../lib/http/body';
import { httpHandler } from '../lib/http/handler';
import { noContent } from '../lib/http/response';
import { LogoutBody } from '../lib/schemas';

/**
 * POST /auth/logout: ends the token's session (its access tokens stop working at once); 204
 * for any token string, so the answer reveals nothing about it.
 */
export const handler = httpHandler({ body: jsonBody(LogoutBody) }, async ({ body, origin }) => {
  await revokeRefreshToken(body.refresh_token, origin);
  return noContent();
});
