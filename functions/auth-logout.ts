import { revokeRefreshToken } from '../lib/auth/refresh-tokens';
import { httpHandler, noContent } from '../lib/http';
import { LogoutBody } from '../lib/schemas';

/** POST /auth/logout: 204 for any token string, so the answer reveals nothing about it. */
export const handler = httpHandler({ body: LogoutBody }, ({ body }) => {
  revokeRefreshToken(body.refresh_token);
  return noContent();
});
