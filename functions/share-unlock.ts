import { jsonBody } from '../lib/http/body';
import { httpHandler } from '../lib/http/handler';
import { ok } from '../lib/http/response';
import { UnlockShareBody } from '../lib/schemas';
import { unlockShare } from '../lib/shares';

/** POST /s/{token} (public): resolves a share, with its password if it has one; wrong passwords are throttled. */
export const handler = httpHandler({ body: jsonBody(UnlockShareBody, { optional: true }) }, async ({ event, body, origin }) =>
  ok(await unlockShare(event.pathParameters?.token ?? '', body, origin), { 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' }),
);
