import { rotateRefreshToken } from '../lib/auth/refresh-tokens';
import { httpHandler, ok } from '../lib/http';
import { RefreshTokenBody } from '../lib/schemas';

/** POST /auth/refresh: one-time exchange of a refresh token for a new pair. */
export const handler = httpHandler({ body: RefreshTokenBody }, async ({ body }) =>
  ok(await rotateRefreshToken(body.refresh_token), { 'Cache-Control': 'no-store', Pragma: 'no-cache' }),
);
