import { HttpError } from '../lib/http/errors';
import { httpHandler } from '../lib/http/handler';
import { openShare } from '../lib/shares';

/** A browser navigating (not a script fetching): it asks for HTML first. */
const isPageLoad = (accept: string | undefined): boolean => /(^|,)\s*text\/html\s*(;|,|$)/i.test(accept ?? '');

/**
 * GET /s/{token} (public): counts a download and redirects to a fresh presigned GET. The
 * redirect is never cached (each one counts) and sends no Referer to storage.
 *
 * A password-protected link is 401 "Password required" for clients, but someone opening it in
 * a browser has no way to send a password: a page load (Accept: text/html) is sent instead to
 * the web client's form for it (`/#/s/{token}`; a fragment never reaches a server or a log),
 * which POSTs the password. Nothing is counted either way.
 */
export const handler = httpHandler({}, async ({ event, origin }) => {
  const token = event.pathParameters?.token ?? '';
  try {
    const { url } = await openShare(token, origin);
    return { status: 302, headers: { Location: url, 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' } };
  } catch (error) {
    if (error instanceof HttpError && error.status === 401 && isPageLoad(event.headers.accept)) {
      return { status: 303, headers: { Location: `/#/s/${encodeURIComponent(token)}`, 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' } };
    }
    throw error;
  }
});
