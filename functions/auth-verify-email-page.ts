import { verifyEmail } from '../lib/email-verification';
import { httpHandler } from '../lib/http/handler';
import { HttpError } from '../lib/http/errors';
import type { HttpResponse } from '../lib/http/response';

/**
 * GET /auth/verify-email?token=...: where the link in the verification mail points (at
 * APP_URL, the API by default). A person clicking it gets the verification done and a short
 * HTML page saying so; the same 400 page, whatever was wrong with the token. Single use like
 * the POST: a second click answers the 400 page.
 */
export const handler = httpHandler({}, async ({ event, origin }) => {
  const token = event.queryStringParameters?.token;
  try {
    if (!token || token.length > 512) throw new HttpError(400, 'Invalid or expired token');
    await verifyEmail(token, origin);
    return page(200, 'Address verified', 'Thank you: your email address is verified. You can close this page.');
  } catch (error) {
    if (error instanceof HttpError && error.status === 400) {
      return page(400, 'Link invalid or expired', 'This link has been used already or has expired. Sign in and ask for a new one.');
    }
    throw error;
  }
});

function page(status: number, title: string, text: string): HttpResponse {
  return {
    status,
    headers: { 'Content-Type': 'text/html; charset=utf-8', 'Referrer-Policy': 'no-referrer' },
    body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1><p>${text}</p></body></html>\n`,
  };
}
