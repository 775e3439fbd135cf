import { bearerAuth } from '../lib/http/auth';
import { httpHandler } from '../lib/http/handler';
import { noContent } from '../lib/http/response';
import { endAllSessions } from '../lib/sessions';

/** POST /auth/logout-all: every session of the caller ends, this one included. */
export const handler = httpHandler({ auth: bearerAuth }, async ({ user, origin }) => {
  await endAllSessions(user.id, origin);
  return noContent();
});
