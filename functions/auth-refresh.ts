import { rotateRefreshToken } from '../lib/auth/refresh-tokens';
import { jsonBody } from '../lib/http/body';
import { httpHandler } from '../lib/http/handler';
import { ok } from '../lib/http/response';
import { RefreshTokenBody } from '../lib/schemas';

/** POST /auth/refresh: one-time exchange of a refresh token for a new pair; the session goes on. */
export const handler = httpHandler({ body: jsonBody(RefreshTokenBody) }, async ({ body, origin }) =>
  ok(await rotateRefreshToken(body.refresh_token, origin), { 'Cache-Control': 'no-store', Pragma: 'no-cache' }),
);
