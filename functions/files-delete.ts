import { deleteOwnedFile } from '../lib/files';
import { httpHandler, noContent } from '../lib/http';

/** DELETE /files/{id}: removes the object and its record; 404 for anyone else's file. */
export const handler = httpHandler({ auth: true }, async ({ user, event }) => {
  await deleteOwnedFile(user.id, event.pathParameters?.id ?? '');
  return noContent();
});
