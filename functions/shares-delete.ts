import { bearerAuth } from '../lib/http/auth';
import { httpHandler } from '../lib/http/handler';
import { noContent } from '../lib/http/response';
import { revokeShare } from '../lib/shares';

/** DELETE /files/{id}/shares/{share_id}: revokes a share at once; 404 for a file or share not the caller's. */
export const handler = httpHandler({ auth: bearerAuth }, async ({ user, event, origin }) => {
  await revokeShare(user.id, event.pathParameters?.id ?? '', event.pathParameters?.share_id ?? '', origin);
  return noContent();
});
