import { deleteOwnedFile } from '../lib/files';
import { bearerAuth } from '../lib/http/auth';
import { httpHandler } from '../lib/http/handler';
import { noContent } from '../lib/http/response';

/** DELETE /files/{id}: removes the object and its record; 404 for anyone else's file. */
export const handler = httpHandler({ auth: bearerAuth }, async ({ user, event }) => {
  await deleteOwnedFile(user.id, event.pathParameters?.id ?? '');
  return noContent();
});
