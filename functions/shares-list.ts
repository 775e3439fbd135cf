import { bearerAuth } from '../lib/http/auth';
import { httpHandler } from '../lib/http/handler';
import { ok } from '../lib/http/response';
import { listShares } from '../lib/shares';

/** GET /files/{id}/shares: the live shares of one of the caller's files, never their tokens. */
export const handler = httpHandler({ auth: bearerAuth }, async ({ user, event }) =>
  ok({ shares: await listShares(user.id, event.pathParameters?.id ?? '') }),
);
