import { httpHandler } from '../lib/http/handler';
import { openShare } from '../lib/shares';

/**
 * GET /s/{token} (public): counts a download and redirects to a fresh presigned GET. The
 * redirect is never cached (each one counts) and sends no Referer to storage.
 */
export const handler = httpHandler({}, async ({ event, origin }) => {
  const { url } = await openShare(event.pathParameters?.token ?? '', origin);
  return { status: 302, headers: { Location: url, 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' } };
});
