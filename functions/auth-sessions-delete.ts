import { bearerAuth } from '../lib/http/auth';
import { httpHandler } from '../lib/http/handler';
import { noContent } from '../lib/http/response';
import { endSession } from '../lib/sessions';

/** DELETE /auth/sessions/{id}: ends one of the caller's sessions; 404 for anyone else's or an unknown id. */
export const handler = httpHandler({ auth: bearerAuth }, async ({ user, event, origin }) => {
  await endSession(user.id, event.pathParameters?.id ?? '', origin);
  return noContent();
});
